"""ffmpeg command lines for review copies and thumbnails, as pure functions of MediaInfo.

The argv is stored as evidence of how a derivative was made, so it holds nothing but the
source, the destination and settings: no temporary names, no timestamps. Every input is opened
through the file protocol only and by one of the allowed demuxers (workers/media/limits.py).
"""
from __future__ import annotations

from typing import Sequence

from server.settings import ReviewProfile, ThumbnailSettings
from workers.media.limits import RECORDER_INPUT_FORMATS, input_options
from workers.media.probe import MediaInfo

AUDIO_REMUX_CONTAINERS = ("m4a", "mp4", "mov")
# Seeking to the very end of a clip yields no frame (ffmpeg then exits 0 with no output file).
POSTER_END_MARGIN_SECONDS = 1.0
PROGRESS = ["-progress", "pipe:1", "-nostats"]


def review_plan(info: MediaInfo, profile: ReviewProfile) -> str | None:
    """"remux" when the original already plays in a browser, "transcode" otherwise, None for images."""
    if info.kind == "image":
        return None
    if info.kind == "audio":
        plays = info.container in AUDIO_REMUX_CONTAINERS and info.audio_codec in profile.remux_audio_codecs
        return "remux" if plays else "transcode"
    plays = (info.container in profile.remux_containers
             and info.video_codec in profile.remux_video_codecs
             and info.pix_fmt in profile.remux_pix_fmts
             and (info.audio_codec is None or info.audio_codec in profile.remux_audio_codecs))
    return "remux" if plays else "transcode"


def review_output_suffix(info: MediaInfo) -> str:
    if info.kind == "video":
        return ".mp4"
    if info.kind == "audio":
        return ".m4a"
    raise ValueError(f"no review copy for {info.kind} media")


def review_argv(src: str, dst: str, info: MediaInfo, profile: ReviewProfile, *,
                ffmpeg: str = "ffmpeg", threads: int = 0,
                input_formats: Sequence[str] = RECORDER_INPUT_FORMATS) -> list[str]:
    plan = review_plan(info, profile)
    if plan is None:
        raise ValueError(f"no review copy for {info.kind} media")
    audio_only = info.kind == "audio"
    argv = [*_head(ffmpeg, "warning"), *input_options(src, input_formats), "-i", src]
    argv += ["-map", "0:a:0"] if audio_only else ["-map", "0:v:0?", "-map", "0:a:0?"]
    argv += ["-map_metadata", "0"]
    if plan == "remux":
        argv += ["-c", "copy"]
    else:
        if audio_only:
            argv += ["-vn"]
        else:
            argv += ["-vf", _fit_height(profile.max_height), "-c:v", profile.video_codec,
                     "-preset", profile.preset, "-crf", str(profile.crf), "-pix_fmt", profile.pix_fmt,
                     # keep every recorded frame at its own time instead of padding to a constant rate
                     "-fps_mode", "passthrough"]
        argv += ["-c:a", profile.audio_codec, "-b:a", profile.audio_bitrate]
        if threads:
            argv += ["-threads", str(threads)]
    # The muxer is named so the output format does not depend on the destination's file name.
    argv += ["-movflags", "+faststart", "-f", "ipod" if audio_only else "mp4", *PROGRESS, dst]
    return argv


def poster_seconds(info: MediaInfo, settings: ThumbnailSettings) -> float:
    if not info.duration:
        return 0.0
    latest = max(info.duration - POSTER_END_MARGIN_SECONDS, 0.0)
    return min(settings.poster_at * info.duration, latest)


def poster_argv(src: str, dst: str, info: MediaInfo, settings: ThumbnailSettings, *,
                ffmpeg: str = "ffmpeg", decode_to_position: bool = False,
                input_formats: Sequence[str] = RECORDER_INPUT_FORMATS) -> list[str]:
    """One JPEG frame, poster_width wide; a still image is only scaled.

    The fast way seeks the input; a stream without an index or with few keyframes (MPEG-TS)
    can make that seek find no frame at all, so `decode_to_position` decodes up to the
    position instead: slower, but it always finds the frame."""
    argv = _head(ffmpeg, "error")
    if info.kind not in ("video", "image"):
        raise ValueError(f"no poster for {info.kind} media")
    seek = ["-ss", f"{poster_seconds(info, settings):.3f}"] if info.kind == "video" else []
    before, after = ([], seek) if decode_to_position else (seek, [])
    return [*argv, *before, *input_options(src, input_formats), "-i", src, *after, "-map", "0:v:0",
            "-vf", f"scale={settings.poster_width}:-2", *_one_jpeg(dst)]


def contact_sheet_argv(src: str, dst: str, info: MediaInfo, settings: ThumbnailSettings, *,
                       ffmpeg: str = "ffmpeg", input_formats: Sequence[str] = RECORDER_INPUT_FORMATS) -> list[str]:
    """One JPEG of sheet_columns x sheet_rows frames spread evenly over the clip."""
    if info.kind != "video" or not info.duration:
        raise ValueError("a contact sheet needs a video with a known duration")
    tiles = settings.sheet_columns * settings.sheet_rows
    filters = (f"fps={tiles}/{info.duration:.3f},scale={settings.sheet_tile_width}:-2,"
               f"tile={settings.sheet_columns}x{settings.sheet_rows}")
    return [*_head(ffmpeg, "error"), *input_options(src, input_formats), "-i", src, "-map", "0:v:0",
            "-vf", filters, *_one_jpeg(dst)]


def _head(ffmpeg: str, loglevel: str) -> list[str]:
    # Thumbnails log at "error": ffmpeg 5.1 warns "deprecated pixel format" for every JPEG.
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", loglevel, "-y"]


def _fit_height(max_height: int) -> str:
    # Never upscale; trunc keeps an odd height (of the source or the limit) even, as yuv420p requires.
    return f"scale=-2:'trunc(min({max_height},ih)/2)*2'"


def _one_jpeg(dst: str) -> list[str]:
    return ["-frames:v", "1", "-update", "1", "-f", "image2", *PROGRESS, dst]
