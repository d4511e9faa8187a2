"""Hostile media for the tests, made at test time and small on disk: decompression-bomb pictures,
files declaring absurd sizes or durations, lists and playlists that name other files, and an
ffprobe that never answers. Each generator writes one file and returns its path."""
from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

from tests.media_samples import ffmpeg

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START_OF_FRAME = (0xC0, 0xC1, 0xC2)
# The workers stream an original into their workspace as "original" + its extension
# (workers/workspace.py): a list naming that file names itself.
WORKSPACE_NAME = "original"


def png_bomb(path: Path, side: int = 50000, *, bit_depth: int = 1) -> Path:
    """A grey PNG of side x side pixels, all black: 50000 x 50000 at 1 bit is ~300 KB on disk and
    312 MB of rows (2.5 GB at 8 bits) once inflated, more as decoded pixels."""
    row = bytes(1 + (side * bit_depth + 7) // 8)  # filter byte 0, then the pixels
    squeeze = zlib.compressobj(9)
    batch = row * 256
    parts = [squeeze.compress(batch) for _ in range(side // 256)]
    parts += [squeeze.compress(row * (side % 256)), squeeze.flush()]
    header = struct.pack(">IIBBBBB", side, side, bit_depth, 0, 0, 0, 0)  # greyscale, no interlace
    path.write_bytes(PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts))
                     + _png_chunk(b"IEND", b""))
    return path


def jpeg_claiming(path: Path, width: int = 65500, height: int = 65500) -> Path:
    """A real 16 x 16 JPEG whose frame header says width x height (the largest a JPEG can say
    is 65535 x 65535): a few hundred bytes that ask a decoder for 4 billion pixels."""
    small = path.with_name(path.stem + ".small.jpg")
    ffmpeg("-f", "lavfi", "-i", "color=gray:size=16x16", "-frames:v", "1", small)
    data = bytearray(small.read_bytes())
    small.unlink()
    position = 2
    while data[position + 1] not in JPEG_START_OF_FRAME:
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
    struct.pack_into(">HH", data, position + 5, height, width)
    path.write_bytes(bytes(data))
    return path


def avi_claiming(path: Path, *, size: tuple[int, int] | None = None, frames: int | None = None) -> Path:
    """Five real 16 x 16 raw frames in an AVI whose headers declare another picture size (avih and
    the stream's BITMAPINFOHEADER) or another frame count (avih, strh, odml dmlh: 25 fps, so
    2**31 - 1 frames is ~2.7 years). ffprobe reports what the headers say."""
    ffmpeg("-f", "lavfi", "-i", "color=gray:size=16x16:rate=25:duration=0.2", "-c:v", "rawvideo",
           "-pix_fmt", "bgr24", path)
    data = bytearray(path.read_bytes())
    main, stream, picture = (data.index(tag) + 8 for tag in (b"avih", b"strh", b"strf"))
    if size is not None:
        struct.pack_into("<II", data, main + 32, *size)  # dwWidth, dwHeight
        struct.pack_into("<ii", data, picture + 4, *size)  # biWidth, biHeight
    if frames is not None:
        struct.pack_into("<I", data, main + 16, frames)  # dwTotalFrames
        struct.pack_into("<I", data, stream + 32, frames)  # dwLength
        if (extended := data.find(b"dmlh")) >= 0:
            struct.pack_into("<I", data, extended + 8, frames)
    path.write_bytes(bytes(data))
    return path


def ffconcat(path: Path, *targets: str) -> Path:
    """An ffconcat list (a text file, whatever its name) joining `targets`, as ffmpeg's concat
    demuxer reads them: relative names are files beside the list."""
    path.write_text("ffconcat version 1.0\n" + "".join(f"file '{target}'\n" for target in targets))
    return path


def self_concat(path: Path) -> Path:
    """An ffconcat list naming itself once it is in a worker's workspace: it never ends."""
    return ffconcat(path, WORKSPACE_NAME + path.suffix)


def hls_playlist(path: Path, target: Path, seconds: float = 2.0) -> Path:
    """An HLS playlist whose one segment is another local file, named by its absolute path."""
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:{round(seconds)}\n#EXTINF:{seconds:.1f},\n"
                    f"{target}\n#EXT-X-ENDLIST\n")
    return path


def secret_video(path: Path, seconds: float = 2.0) -> Path:
    """Another file on the worker's host (an MPEG-TS, a format playlists may name): all red, so
    any picture made from it shows."""
    ffmpeg("-f", "lavfi", "-i", f"color=red:size=160x120:rate=25:duration={seconds}", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts", path)
    return path


def mean_colour(picture: Path) -> tuple[int, int, int]:
    """The average red, green and blue of a picture."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(picture), "-vf", "scale=1:1:flags=area",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True).stdout
    return raw[0], raw[1], raw[2]


def hanging_ffprobe(path: Path, marker: str) -> Path:
    """A stand-in for an ffprobe that blocks forever on some input: it sleeps whatever it is
    asked. `marker` (a number of seconds) names its sleep in the process list."""
    path.write_text(f"#!/bin/sh\nexec sleep {marker}\n")
    path.chmod(0o755)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
