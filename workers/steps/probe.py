"""probe: what the file is (kind, container, codecs, duration, size, rotation, creation time),
and which derive steps apply to it. A file ffprobe cannot read is kept and marked unplayable; so
is one that declares more than the limits allow (picture size, duration), is in a format that
could make ffmpeg read other files, or makes ffprobe run out of memory: it is never decoded."""
from __future__ import annotations

from workers.media.declared import declared_picture_size
from workers.media.guard import format_refusal, media_refusal, memory_refusal, picture_refusal
from workers.media.limits import MediaLimits
from workers.media.probe import ProbeFailed, ProbeMemoryLimit, ProbeRefusedFormat, ProbeTimeout, probe, probe_argv
from workers.steps import APPLIES_TO, REVIEW, Outcome
from workers.steps.failures import refused, unplayable


def run(context) -> Outcome:
    processing = context.settings.processing
    limits = MediaLimits.from_settings(processing)
    path = context.original()
    declared = declared_picture_size(path)
    if declared and all(declared):  # a PNG or JPEG header: judged before ffprobe may decode it
        refusal = picture_refusal(*declared, limits.max_pixels)
        if refusal is not None:
            return refused(refusal, {"source": "header"})
    context.ran(probe_argv(str(path), processing.ffprobe, limits.input_formats))
    try:
        info = probe(path, timeout=processing.probe_timeout_seconds, ffprobe=processing.ffprobe,
                     input_formats=limits.input_formats, memory_limit_bytes=limits.memory_limit_bytes)
    except ProbeTimeout:
        raise  # may be a loaded machine: RQ retries; the last attempt marks the file unplayable
    except ProbeRefusedFormat as exc:
        return refused(format_refusal(exc.format_name, limits))
    except ProbeMemoryLimit as exc:
        return refused(memory_refusal(exc.program, exc.limit_bytes))
    except ProbeFailed as exc:
        return unplayable(exc.reason)
    media = info.as_dict()
    refusal = media_refusal(info, limits)
    if refusal is not None:
        return refused(refusal, {"probed": media})
    next_steps = []
    for step, kinds in APPLIES_TO.items():
        if info.kind in kinds:
            profiles = processing.review_profiles if step == REVIEW else [""]
            next_steps += [(step, profile) for profile in profiles]
    return Outcome(result=media, clip_media=media, clip_duration=info.duration, next_steps=next_steps,
                   events=[("probed", media)])
