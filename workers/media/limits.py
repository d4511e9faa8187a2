"""Bounds on the media tools: which demuxers and protocols may open an original, how much
memory each ffmpeg/ffprobe process may take, and telling when a process ran out of it."""
from __future__ import annotations

import errno
import functools
import os
import re
import shutil
from dataclasses import dataclass
from typing import Sequence

from server.settings import RECORDER_INPUT_FORMATS

# What ffmpeg, ffprobe or the dynamic loader print when an allocation fails (ENOMEM; EAGAIN when
# a thread's stack cannot be mapped; a C++ library's bad_alloc).
OUT_OF_MEMORY = re.compile(r"cannot allocate memory|out of memory|failed to map segment|bad_alloc"
                           r"|resource temporarily unavailable", re.IGNORECASE)


@dataclass(frozen=True)
class MediaLimits:
    """processing.memory_limit_bytes, max_pixels, max_duration_seconds and input_formats."""
    memory_limit_bytes: int | None = None
    max_pixels: int | None = None
    max_duration_seconds: float | None = None
    input_formats: tuple[str, ...] = RECORDER_INPUT_FORMATS

    @classmethod
    def from_settings(cls, processing) -> MediaLimits:
        return cls(processing.memory_limit_bytes, processing.max_pixels, processing.max_duration_seconds,
                   tuple(processing.input_formats))


class MemoryLimitExceeded(Exception):
    """A media process ran out of its memory limit; running it again would only do the same."""

    program: str = "ffmpeg"
    limit_bytes: int = 0


def input_options(path, formats: Sequence[str] = RECORDER_INPUT_FORMATS) -> list[str]:
    """Options that go right before `-i path`: the input is read through the file protocol only
    (no URL) by one of `formats` (no concat list or playlist that names other files)."""
    if "%" in os.fspath(path):
        # The image2 demuxer reads a numbered sequence of other files for a name with %d in it.
        raise ValueError(f"refusing an input name with '%' in it: {os.fspath(path)!r}")
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(formats)]


def limited(argv: list[str], memory_limit_bytes: int | None) -> list[str]:
    """argv to start so that the process cannot grow its data segment past the limit.

    prlimit sets RLIMIT_DATA (heap and private writable mappings, not the address space threads
    merely reserve) and then execs the program: nothing runs between fork and exec in our
    process, unlike a preexec_fn. The argv recorded as evidence stays the unwrapped one."""
    if memory_limit_bytes is None:
        return list(argv)
    program = shutil.which(argv[0])
    if program is None:  # what Popen itself would raise for the bare command
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
    return [_prlimit(), f"--data={memory_limit_bytes}", "--", program, *argv[1:]]


def ran_out_of_memory(stderr: str, memory_limit_bytes: int | None) -> bool:
    """Whether a process run under a memory limit says an allocation failed."""
    return memory_limit_bytes is not None and bool(OUT_OF_MEMORY.search(stderr or ""))


def size_text(size: int) -> str:
    """2147483648 -> "2 GiB", 100000000 -> "95.4 MiB"."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.3g} {unit}"
    return f"{size} bytes"


@functools.cache
def _prlimit() -> str:
    found = shutil.which("prlimit")
    if found is None:
        raise RuntimeError("prlimit (util-linux) is needed to enforce processing.memory_limit_bytes; "
                           "install util-linux or set memory_limit_bytes: null")
    return found
