"""What an original is: ffprobe's JSON reduced to the few facts the pipeline decides on."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from workers.media.limits import RECORDER_INPUT_FORMATS, MemoryLimitExceeded, input_options, limited, ran_out_of_memory

# Demuxers that read one still picture. Every ffmpeg `*_pipe` demuxer is an image format too.
IMAGE_FORMATS = {"image2"}
IMAGE_CONTAINERS = {"mjpeg": "jpeg", "png": "png"}
QUICKTIME_BRANDS = {"qt  ": "mov", "M4A ": "m4a", "M4B ": "m4a"}
REASON_LINES = 5
# "[concat @ 0x55d1c0] Format not on whitelist 'mov,...'": a demuxer outside processing.input_formats.
NOT_ON_WHITELIST = re.compile(r"\[([^\]\s]+) @ 0x[0-9a-f]+\] Format not on whitelist")


@dataclass(frozen=True)
class MediaInfo:
    kind: str
    container: str
    format_name: str
    duration: float | None
    video_codec: str | None
    audio_codec: str | None
    pix_fmt: str | None
    width: int | None
    height: int | None
    frame_rate: float | None
    # Degrees a player turns the stored picture clockwise, the convention of the legacy `rotate`
    # tag: a phone held upright records 90.
    rotation: int
    creation_time: datetime | None
    bit_rate: int | None

    def as_dict(self) -> dict:
        values = dataclasses.asdict(self)
        if self.creation_time is not None:
            values["creation_time"] = self.creation_time.isoformat()
        return values


class ProbeFailed(Exception):
    """ffprobe could not read the file as media; `reason` is its own message."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ProbeTimeout(ProbeFailed):
    """ffprobe did not finish in time and was killed."""

    def __init__(self, timeout: float):
        super().__init__(f"ffprobe did not finish within the {timeout:g} s timeout")
        self.timeout = timeout


class ProbeRefusedFormat(ProbeFailed):
    """The file is in a format (demuxer `format_name`) that processing.input_formats does not allow."""

    def __init__(self, format_name: str):
        super().__init__(f"the format {format_name!r} is not allowed for evidence (processing.input_formats)")
        self.format_name = format_name


class ProbeMemoryLimit(ProbeFailed, MemoryLimitExceeded):
    """ffprobe ran out of its memory limit reading the file."""

    def __init__(self, reason: str, limit_bytes: int):
        super().__init__(reason)
        self.program, self.limit_bytes = "ffprobe", limit_bytes


def parse_probe(data: dict) -> MediaInfo:
    """Reduce `ffprobe -show_format -show_streams -of json` output to a MediaInfo."""
    fmt = data.get("format") or {}
    format_name = fmt.get("format_name", "")
    streams = data.get("streams") or []
    video = _first(streams, "video", skip_attached_pictures=True)
    audio = _first(streams, "audio")
    is_image = format_name in IMAGE_FORMATS or format_name.endswith("_pipe")
    if is_image:
        video = _first(streams, "video")
    if video is None and audio is None:
        raise ProbeFailed(f"no audio or video stream in {format_name or 'the file'}")

    kind = "image" if is_image else "video" if video else "audio"
    picture = video or {}
    return MediaInfo(
        kind=kind,
        container=_container(format_name, fmt.get("tags") or {}, video if is_image else None),
        format_name=format_name,
        duration=None if is_image else _duration(fmt, video or audio),
        video_codec=picture.get("codec_name"),
        audio_codec=(audio or {}).get("codec_name"),
        pix_fmt=picture.get("pix_fmt"),
        width=_number(picture.get("width"), int),
        height=_number(picture.get("height"), int),
        frame_rate=None if is_image else _rate(picture.get("avg_frame_rate")),
        rotation=_rotation(picture),
        creation_time=_creation_time([fmt, *streams]),
        bit_rate=_number(fmt.get("bit_rate"), int),
    )


def probe_argv(path: str, ffprobe: str = "ffprobe", input_formats=RECORDER_INPUT_FORMATS) -> list[str]:
    return [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
            *input_options(path, input_formats), "-i", path]


def probe(path, *, timeout: float, ffprobe: str = "ffprobe", input_formats=RECORDER_INPUT_FORMATS,
          memory_limit_bytes: int | None = None) -> MediaInfo:
    """Run ffprobe on a local file, opened only by one of `input_formats`, its data segment
    limited to memory_limit_bytes; raise ProbeFailed (ProbeTimeout, ProbeRefusedFormat,
    ProbeMemoryLimit) with its reason."""
    argv = probe_argv(os.path.abspath(Path(path)), ffprobe, input_formats)
    process = subprocess.Popen(limited(argv, memory_limit_bytes), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ProbeTimeout(timeout) from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    text = stderr.decode("utf-8", "replace")
    if ran_out_of_memory(text, memory_limit_bytes):
        raise ProbeMemoryLimit(f"ffprobe ran out of its memory limit: {_reason(stderr)}", memory_limit_bytes)
    refused = NOT_ON_WHITELIST.search(text)
    if process.returncode != 0 and refused:
        raise ProbeRefusedFormat(refused.group(1))
    if process.returncode != 0:
        raise ProbeFailed(_reason(stderr) or f"ffprobe exited with code {process.returncode}")
    try:
        data = json.loads(stdout)
    except ValueError as error:
        raise ProbeFailed(f"ffprobe printed unreadable JSON: {error}") from None
    return parse_probe(data)


def _reason(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()[-REASON_LINES:]
    # "[mov,mp4,... @ 0x55d1c0]": the address changes every run and means nothing to a reader.
    return "\n".join(re.sub(r" @ 0x[0-9a-f]+\]", "]", line) for line in lines)


def _first(streams: list[dict], codec_type: str, *, skip_attached_pictures: bool = False) -> dict | None:
    for stream in streams:
        if stream.get("codec_type") != codec_type:
            continue
        if skip_attached_pictures and (stream.get("disposition") or {}).get("attached_pic"):
            continue  # cover art in an audio file is not video
        return stream
    return None


def _container(format_name: str, tags: dict, image_stream: dict | None) -> str:
    if image_stream is not None:
        codec = image_stream.get("codec_name", "")
        return IMAGE_CONTAINERS.get(codec, codec or format_name.removesuffix("_pipe"))
    if format_name.startswith("mov,mp4,"):
        brand = tags.get("major_brand")
        if brand is None:
            return "mov"  # only old QuickTime files lack an ftyp atom
        if brand.startswith("3g"):
            return "3gp"
        return QUICKTIME_BRANDS.get(brand, "mp4")
    if format_name.startswith("matroska"):
        return "matroska"
    return format_name.split(",")[0]


def _rotation(stream: dict) -> int:
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            # ffprobe reports the display matrix counterclockwise: -90 means turn 90 clockwise.
            return round(-float(side_data["rotation"])) % 360
    rotate = _number((stream.get("tags") or {}).get("rotate"), int)
    return rotate % 360 if rotate else 0


def _creation_time(sections: list[dict]) -> datetime | None:
    for section in sections:
        for key, value in (section.get("tags") or {}).items():
            if key.lower() == "creation_time":
                parsed = _timestamp(value)
                if parsed is not None:
                    return parsed
    return None


def _timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # QuickTime and Matroska store UTC
    return parsed.astimezone(timezone.utc)


def _duration(fmt: dict, stream: dict) -> float | None:
    duration = _number(fmt.get("duration"), float) or _number(stream.get("duration"), float)
    return duration if duration is not None and math.isfinite(duration) else None


def _rate(value: str | None) -> float | None:
    numerator, _, denominator = (value or "").partition("/")
    try:
        rate = float(numerator) / float(denominator or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return rate or None


def _number(value, kind):
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None
