"""probe: what the file is (kind, container, codecs, duration, size, rotation, creation time),
and which derive steps apply to it. A file ffprobe cannot read is kept and marked unplayable."""
from __future__ import annotations

from workers.media.probe import ProbeFailed, ProbeTimeout, probe, probe_argv
from workers.steps import APPLIES_TO, REVIEW, Outcome
from workers.steps.failures import unplayable


def run(context) -> Outcome:
    settings = context.settings
    path = context.original()
    context.ran(probe_argv(str(path), settings.processing.ffprobe))
    try:
        info = probe(path, timeout=settings.processing.probe_timeout_seconds, ffprobe=settings.processing.ffprobe)
    except ProbeTimeout:
        raise  # may be a loaded machine: RQ retries; the last attempt marks the file unplayable
    except ProbeFailed as exc:
        return unplayable(exc.reason)
    media = info.as_dict()
    next_steps = []
    for step, kinds in APPLIES_TO.items():
        if info.kind in kinds:
            profiles = settings.processing.review_profiles if step == REVIEW else [""]
            next_steps += [(step, profile) for profile in profiles]
    return Outcome(result=media, clip_media=media, clip_duration=info.duration, next_steps=next_steps,
                   events=[("probed", media)])
