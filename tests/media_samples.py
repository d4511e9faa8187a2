"""Tiny real media files for the media tests and benchmarks, made with ffmpeg's lavfi sources."""
from __future__ import annotations

import random
import subprocess
from datetime import datetime, timezone
from pathlib import Path

SAMPLE_KINDS = ("h264_aac_mp4", "h264_aac_mov", "hevc_mp4", "mjpeg_avi", "mpegts", "jpeg", "wav", "amr",
                "aac_adts", "h264_rotated_mp4", "zero_bytes", "random_mp4", "truncated_mp4")
CREATION_TIME = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
# Only these containers store a creation time that ffmpeg writes and ffprobe reads back.
DATED_KINDS = ("h264_aac_mp4", "h264_aac_mov", "hevc_mp4", "h264_rotated_mp4")

H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
HEVC = ("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
        "-pix_fmt", "yuv420p", "-tag:v", "hvc1")
AAC = ("-c:a", "aac", "-b:a", "64k")
PCM = ("-c:a", "pcm_s16le")
VIDEO_CODECS = {"h264_aac_mp4": H264 + AAC, "h264_aac_mov": H264 + AAC, "hevc_mp4": HEVC + AAC,
                "mjpeg_avi": ("-c:v", "mjpeg", "-q:v", "5") + PCM, "mpegts": H264 + AAC}

SUFFIXES = {"h264_aac_mp4": ".mp4", "h264_aac_mov": ".mov", "hevc_mp4": ".mp4", "mjpeg_avi": ".avi",
            "mpegts": ".ts", "jpeg": ".jpg", "wav": ".wav", "amr": ".amr", "aac_adts": ".aac",
            "h264_rotated_mp4": ".mp4", "zero_bytes": ".mp4", "random_mp4": ".mp4", "truncated_mp4": ".mp4"}

# AMR-NB 12.2 kbit/s frames (RFC 4867 storage format): a ToC byte and 31 bytes every 20 ms.
AMR_MAGIC = b"#!AMR\n"
AMR_FRAME_TOC = bytes([7 << 3 | 0x04])
AMR_FRAME_BYTES = 31
AMR_FRAME_SECONDS = 0.02


def make_sample(kind: str, directory: Path, *, seconds: float = 3.0, size: str = "320x240",
                name: str | None = None) -> Path:
    """Write one sample of `kind` into `directory` and return its path."""
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"unknown sample kind {kind!r}; expected one of {', '.join(SAMPLE_KINDS)}")
    path = Path(directory) / (name or kind + SUFFIXES[kind])
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind in VIDEO_CODECS:
        make_video(path, seconds=seconds, size=size, codec=VIDEO_CODECS[kind])
    elif kind == "h264_rotated_mp4":
        _make_rotated(path, seconds=seconds, size=size)
    elif kind == "truncated_mp4":
        _make_truncated(path, seconds=seconds, size=size)
    elif kind == "jpeg":
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}", "-frames:v", "1", "-q:v", "3", path)
    elif kind == "wav":
        make_audio(path, seconds=seconds, codec=PCM)
    elif kind == "aac_adts":
        make_audio(path, seconds=seconds, codec=AAC)
    elif kind == "amr":
        _write_amr(path, seconds)
    elif kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "random_mp4":
        # Seeded, so a failure reproduces with the same bytes.
        path.write_bytes(random.Random(kind).randbytes(64 * 1024))
    return path


def make_video(path: Path, *, seconds: float = 3.0, size: str = "320x240", fps: int = 25,
               codec=H264 + AAC, audio: bool = True) -> Path:
    """testsrc2 picture (and a sine tone) encoded with `codec` options, dated CREATION_TIME
    where the container can say so. `codec` lists ffmpeg output options, e.g. H264 + AAC."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    ffmpeg(*inputs, *codec, *_dated(path), path)
    return path


def make_audio(path: Path, *, seconds: float = 3.0, codec=AAC) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
           *codec, *_dated(path), path)
    return path


def ffmpeg(*args) -> None:
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    completed = subprocess.run(argv, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"making a media sample failed ({completed.returncode}): {' '.join(argv)}\n"
                           f"{completed.stderr.strip()}")


def _dated(path: Path) -> list[str]:
    if path.suffix in (".mp4", ".mov", ".m4a", ".mkv"):
        return ["-metadata", f"creation_time={CREATION_TIME:%Y-%m-%dT%H:%M:%SZ}"]
    return []


def top_level_atoms(path: Path) -> list[str]:
    """Names of an MP4's top-level boxes in file order, e.g. ["ftyp", "moov", "free", "mdat"]."""
    names = []
    with open(path, "rb") as file:
        while header := file.read(8):
            if len(header) < 8:
                break
            size, name = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            if size == 1:  # 64-bit size follows the name
                size = int.from_bytes(file.read(8), "big") - 8
            elif size == 0:  # box runs to the end of the file
                names.append(name)
                break
            names.append(name)
            file.seek(size - 8, 1)
    return names


def _make_rotated(path: Path, *, seconds: float, size: str) -> None:
    """An upright-phone clip: stored landscape, displayed turned 90 degrees clockwise."""
    plain = path.with_name(path.stem + ".unrotated.mp4")
    make_video(plain, seconds=seconds, size=size, codec=H264 + AAC)
    # ffmpeg 5.1 writes rotate=270 as a display matrix that ffprobe reports as -90, i.e. turn
    # the picture 90 degrees clockwise, as phones record it (the legacy rotate=90 tag).
    ffmpeg("-i", plain, "-map", "0", "-map_metadata", "0", "-c", "copy",
           "-metadata:s:v:0", "rotate=270", path)
    plain.unlink()


def _make_truncated(path: Path, *, seconds: float, size: str) -> None:
    """An MP4 cut in half; without faststart its moov atom sits at the end and is lost."""
    make_video(path, seconds=seconds, size=size, codec=H264 + AAC)
    atoms = top_level_atoms(path)
    if atoms.index("moov") < atoms.index("mdat"):
        raise RuntimeError(f"expected the moov atom after mdat, got {atoms}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_amr(path: Path, seconds: float) -> None:
    # This ffmpeg build has no AMR encoder (libopencore_amrnb), so write the storage format by
    # hand. Any payload bits are valid 12.2 kbit/s parameters, so ffmpeg decodes it (as noise).
    frames = round(seconds / AMR_FRAME_SECONDS)
    noise = random.Random("amr")
    path.write_bytes(AMR_MAGIC + b"".join(AMR_FRAME_TOC + noise.randbytes(AMR_FRAME_BYTES)
                                          for _ in range(frames)))
