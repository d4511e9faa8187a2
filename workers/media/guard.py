"""Refusing to decode a file by what it declares, before any decoder allocates for it.

A refusal is not a failure to retry: the same file would be refused again. The original is kept
and flagged; nothing is derived from it. Each refusal has a code (for the alert, whose text the
catalogues give in Chinese and English), the facts behind it, and an English reason for the
step's record. Pure functions, no tools run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from workers.media.limits import MediaLimits, size_text
from workers.media.probe import MediaInfo

REASONS = {
    "too_many_pixels": "the declared picture size {width}×{height} ({pixels} pixels) is over the limit of "
                       "{max_pixels} pixels (processing.max_pixels)",
    "picture_size_unknown": "ffprobe could not read a usable picture size from the file",
    "too_long": "the declared duration of {duration} s is over the limit of {max_duration_seconds} s "
                "(processing.max_duration_seconds)",
    "format_not_allowed": "the format {format_name!r} is not one recorders produce (allowed: {allowed}); "
                          "such formats can make ffmpeg read other files",
    "memory_limit": "{program} ran out of its memory limit of {limit} while reading the file",
    "probe_timeout": "ffprobe did not finish within the {timeout} s timeout on any of {attempts} attempts",
}
NOTHING_DERIVED = "not decoded, nothing derived; the original is kept"


@dataclass(frozen=True)
class Refusal:
    code: str
    facts: dict = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return f"{REASONS[self.code].format(**self.facts)}; {NOTHING_DERIVED}"

    @property
    def alert_code(self) -> str:
        return f"media_{self.code}"


def picture_refusal(width: int | None, height: int | None, max_pixels: int | None) -> Refusal | None:
    if not width or not height or width < 0 or height < 0:
        return Refusal("picture_size_unknown", {"width": width, "height": height})
    if max_pixels is not None and width * height > max_pixels:
        return Refusal("too_many_pixels", {"width": width, "height": height, "pixels": width * height,
                                           "max_pixels": max_pixels})
    return None


def media_refusal(info: MediaInfo, limits: MediaLimits) -> Refusal | None:
    """Why a probed file must not be decoded, if it must not."""
    if info.kind in ("video", "image"):
        refusal = picture_refusal(info.width, info.height, limits.max_pixels)
        if refusal is not None:
            return refusal
    if (limits.max_duration_seconds is not None and info.duration is not None
            and info.duration > limits.max_duration_seconds):
        return Refusal("too_long", {"duration": _plain(round(info.duration, 3)),
                                    "max_duration_seconds": _plain(limits.max_duration_seconds)})
    return None


def format_refusal(format_name: str, limits: MediaLimits) -> Refusal:
    return Refusal("format_not_allowed", {"format_name": format_name, "allowed": ", ".join(limits.input_formats)})


def memory_refusal(program: str, limit_bytes: int) -> Refusal:
    return Refusal("memory_limit", {"program": program, "limit": size_text(limit_bytes), "limit_bytes": limit_bytes})


def probe_timeout_refusal(timeout: float, attempts: int) -> Refusal:
    return Refusal("probe_timeout", {"timeout": f"{timeout:g}", "attempts": attempts})


def _plain(seconds: float) -> float | int:
    """86400.0 -> 86400, for messages."""
    return int(seconds) if float(seconds).is_integer() else seconds
