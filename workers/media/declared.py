"""The picture size a PNG or JPEG declares in its header, read without decoding anything.

ffprobe reports a size of 0 x 0 for a picture over ffmpeg's own limit (about 16k x 16k), and may
decode a picture to learn its size: a decompression bomb (50000 x 50000 pixels in a few hundred
KB) has to be recognised from its header first.
"""
from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8"
# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic).
JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
JPEG_START_OF_SCAN = 0xDA
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length
MAX_JPEG_SEGMENTS = 1000


def declared_picture_size(path) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's start-of-frame; None for any other file
    or a header that does not say."""
    with open(path, "rb") as handle:
        head = handle.read(len(PNG_SIGNATURE) + 16)
        if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head.startswith(JPEG_START):
            return _jpeg_size(handle)
    return None


def _jpeg_size(handle) -> tuple[int, int] | None:
    """Walk the JPEG's segments up to its first frame header (EXIF and other APPn segments come
    first and may be tens of KB, so this seeks over them instead of reading a fixed head)."""
    position = len(JPEG_START)
    for _ in range(MAX_JPEG_SEGMENTS):
        handle.seek(position)
        prefix = handle.read(2)
        if len(prefix) < 2 or prefix[0] != 0xFF:
            return None
        marker = prefix[1]
        if marker == 0xFF:  # fill byte before the marker
            position += 1
            continue
        if marker in JPEG_STANDALONE:
            position += 2
            continue
        if marker == JPEG_START_OF_SCAN:
            return None
        segment = handle.read(7)
        if len(segment) < 2:
            return None
        length = struct.unpack(">H", segment[:2])[0]
        if marker in JPEG_SOF:
            if len(segment) < 7:
                return None
            height, width = struct.unpack(">HH", segment[3:7])
            return width, height
        if length < 2:
            return None
        position += 2 + length
    return None
