"""The recordings the simulated stations upload: a few real MP4s made once with ffmpeg, each
upload made distinct by a trailing `free` box that names it. A `free` box is padding every MP4
reader skips, so each upload is a new original (its own SHA-256) that the workers must verify,
probe, remux, thumbnail and analyse in full, at no cost to the client."""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from tests.media_samples import AAC, H264, make_video

BASE_CLIPS = [  # (seconds, size): short body-camera clips at a small size, a few shapes
    (6, "640x360"), (8, "640x360"), (10, "640x360"), (8, "480x270")]
"""Each upload takes one of these by turns."""

FASTSTART_H264 = H264 + ("-g", "50") + AAC + ("-movflags", "+faststart")
"""Keyframe every 2 s, as recorders write them; moov first, as a recorder's finished file."""


@dataclass(frozen=True)
class Recording:
    data: bytes
    sha256: str
    seconds: float


def make_base_clips(directory: Path) -> list[tuple[bytes, float]]:
    """The pool of base clips, as bytes (a few MB in all) and their durations."""
    directory.mkdir(parents=True, exist_ok=True)
    clips = []
    for index, (seconds, size) in enumerate(BASE_CLIPS):
        path = make_video(directory / f"base-{index}.mp4", seconds=seconds, size=size, codec=FASTSTART_H264)
        clips.append((path.read_bytes(), float(seconds)))
    return clips


def free_box(payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + b"free" + payload


def distinct(base: list[tuple[bytes, float]], station: int, number: int) -> Recording:
    """Upload `number` of `station`: a base clip by turns, with a trailing box naming it."""
    data, seconds = base[(station + number) % len(base)]
    data = data + free_box(f"fullrecord load station {station} recording {number}".encode())
    return Recording(data, hashlib.sha256(data).hexdigest(), seconds)
