"""thumbnails: a poster frame (videos and photos) and a contact sheet (videos)."""
from __future__ import annotations

from workers.media.argv import contact_sheet_argv, poster_argv
from workers.media.limits import MediaLimits
from workers.media.run import MediaCommandFailed, run_media, tool_version
from workers.steps import Outcome
from workers.steps.failures import memory_limit_is_final
from workers.steps.media_info import media_info


@memory_limit_is_final
def run(context) -> Outcome:
    processing = context.settings.processing
    limits = MediaLimits.from_settings(processing)
    bounds = {"timeout": processing.timeouts["thumbnails"], "cwd": context.workspace.path,
              "memory_limit_bytes": limits.memory_limit_bytes}
    info = media_info(context.clip.media)
    context.remove_orphans()
    source = context.original()
    version = tool_version(processing.ffmpeg)
    # A contact sheet spreads its tiles over the duration: without one (a raw stream) there is none.
    sheet = info.kind == "video" and bool(info.duration)
    jobs = [("poster", poster_argv)] + ([("contact_sheet", contact_sheet_argv)] if sheet else [])
    derivatives = []
    for number, (kind, build) in enumerate(jobs):
        target = context.workspace.path / f"{kind}.jpg"
        argv = build(source.name, target.name, info, processing.thumbnails, ffmpeg=processing.ffmpeg,
                     input_formats=limits.input_formats)
        context.ran(argv)
        run_media(argv, **bounds)
        if kind == "poster" and info.kind == "video" and not _made(target):
            argv = poster_argv(source.name, target.name, info, processing.thumbnails, ffmpeg=processing.ffmpeg,
                               decode_to_position=True, input_formats=limits.input_formats)
            context.ran(argv)
            run_media(argv, **bounds)
        if not _made(target):
            raise MediaCommandFailed(argv, 0, "ffmpeg finished but wrote no image")
        derivatives.append(context.put_derivative(kind, target, content_type="image/jpeg", argv=argv,
                                                  tool_version=version))
        context.progress((number + 1) / len(jobs))
    return Outcome(result={"made": [d.kind for d in derivatives]}, derivatives=derivatives)


def _made(path) -> bool:
    return path.exists() and path.stat().st_size > 0
