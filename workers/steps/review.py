"""review: a browser-playable copy per profile. Remuxed when the original already plays in a
browser, transcoded otherwise; accepted only if its duration matches the original's."""
from __future__ import annotations

from workers.media.argv import review_argv, review_output_suffix, review_plan
from workers.media.limits import MediaLimits
from workers.media.probe import probe
from workers.media.run import run_media, tool_version
from workers.steps import Outcome
from workers.steps.failures import memory_limit_is_final
from workers.steps.media_info import media_info

DURATION_TOLERANCE_SECONDS = 1.0
DURATION_TOLERANCE_SHARE = 0.01
"""A derivative's duration must match the original's within 1 s or 1 %, whichever is larger."""


def duration_check(source: float | None, derived: float | None) -> dict:
    if source is None or derived is None:
        return {"source_duration": source, "duration": derived, "ok": source is None,
                "note": "the original has no duration to compare with" if source is None
                else "the review copy has no duration"}
    tolerance = max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_SHARE * source)
    return {"source_duration": round(source, 3), "duration": round(derived, 3),
            "tolerance": round(tolerance, 3), "ok": abs(source - derived) <= tolerance}


@memory_limit_is_final
def run(context) -> Outcome:
    processing = context.settings.processing
    limits = MediaLimits.from_settings(processing)
    profile = processing.review_profiles.get(context.step.profile)
    if profile is None:
        return Outcome(status="failed", error=f"review profile {context.step.profile!r} is no longer configured",
                       alerts=[("error", "step_failed", {"step": "review", "profile": context.step.profile,
                                                        "reason": "profile not configured"})])
    info = media_info(context.clip.media)
    context.remove_orphans()
    source = context.original()
    plan = review_plan(info, profile)
    target = context.workspace.path / f"review{review_output_suffix(info)}"
    argv = review_argv(source.name, target.name, info, profile, ffmpeg=processing.ffmpeg,
                       input_formats=limits.input_formats)
    context.ran(argv)
    run_media(argv, timeout=processing.timeouts["review"], duration=info.duration,
              on_progress=context.progress, cwd=context.workspace.path, memory_limit_bytes=limits.memory_limit_bytes)
    made = probe(target, timeout=processing.probe_timeout_seconds, ffprobe=processing.ffprobe,
                 memory_limit_bytes=limits.memory_limit_bytes)
    checks = {"plan": plan, **duration_check(info.duration, made.duration),
              "video_codec": made.video_codec, "audio_codec": made.audio_codec,
              "width": made.width, "height": made.height}
    if not checks["ok"]:
        reason = (f"review copy lasts {checks['duration']} s, the original {checks['source_duration']} s "
                  f"(tolerance {checks.get('tolerance')} s); not kept")
        return Outcome(status="failed", error=reason, result=checks,
                       alerts=[("error", "duration_mismatch", {"profile": context.step.profile, **checks})])
    content_type = "video/mp4" if info.kind == "video" else "audio/mp4"
    derivative = context.put_derivative("review", target, content_type=content_type, argv=argv,
                                        tool_version=tool_version(processing.ffmpeg), checks=checks)
    return Outcome(result=checks, derivatives=[derivative])
