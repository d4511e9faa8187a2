"""obstruction: the intervals where the picture is dark, covered, blurred or unreadable, stored
as rows for the audit and as a JSON derivative that explains itself (thresholds, samples)."""
from __future__ import annotations

import json

import cv2

from workers.media.limits import MediaLimits
from workers.media.obstruction import analyze
from workers.media.run import tool_version
from workers.steps import Outcome
from workers.steps.failures import memory_limit_is_final
from workers.steps.media_info import media_info


@memory_limit_is_final
def run(context) -> Outcome:
    processing = context.settings.processing
    info = media_info(context.clip.media)
    context.remove_orphans()
    source = context.original()
    found = analyze(source, processing.obstruction, duration=info.duration, ffmpeg=processing.ffmpeg,
                    ffprobe=processing.ffprobe,
                    timeout=processing.timeouts["obstruction"], on_progress=context.progress,
                    limits=MediaLimits.from_settings(processing))
    document = {"source_sha256": context.clip.sha256, **found.as_dict()}
    argv = list(getattr(found, "argv", []) or [])
    if argv:
        context.ran(argv)
    target = context.workspace.path / "obstruction_map.json"
    target.write_text(json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True))
    versions = f"{tool_version(processing.ffmpeg)}; OpenCV {cv2.__version__}"
    derivative = context.put_derivative("obstruction_map", target, content_type="application/json",
                                        argv=argv, tool_version=versions,
                                        checks={"obstructed_seconds": round(found.obstructed_seconds, 3)})
    intervals = [{"start_seconds": i.start, "end_seconds": i.end, "reason": i.reason, "detail": i.detail}
                 for i in found.intervals]
    summary = {"intervals": len(intervals), "obstructed_seconds": round(found.obstructed_seconds, 3),
               "analysed_seconds": found.analysed_seconds}
    return Outcome(result=summary, derivatives=[derivative], obstructions=intervals)
