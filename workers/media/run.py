"""Run ffmpeg-like commands: progress from `-progress pipe:1`, a bounded stderr tail, no strays."""
from __future__ import annotations

import collections
import functools
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

from workers.media.limits import MemoryLimitExceeded, limited, ran_out_of_memory, size_text

PROGRESS_INTERVAL_SECONDS = 0.5
READER_JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stderr_tail: str
    seconds: float


class MediaCommandFailed(Exception):
    """The command exited nonzero; the message names the program, its exit code and stderr tail."""

    def __init__(self, argv: list[str], returncode: int, stderr_tail: str, what: str | None = None):
        program = os.path.basename(argv[0]) if argv else "command"
        what = what or exit_text(returncode)
        super().__init__(f"{program} {what}: {stderr_tail or '(no stderr)'}")
        self.program = program
        self.argv = argv
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class MediaCommandTimeout(MediaCommandFailed):
    """The command ran past its timeout; its whole process group was killed."""


class MediaMemoryLimit(MediaCommandFailed, MemoryLimitExceeded):
    """The command ran out of its memory limit (an allocation failed), whatever its exit code."""

    def __init__(self, argv: list[str], returncode: int, stderr_tail: str, limit_bytes: int):
        super().__init__(argv, returncode, stderr_tail,
                         f"ran out of its memory limit of {size_text(limit_bytes)} ({exit_text(returncode)})")
        self.limit_bytes = limit_bytes


def exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def run_media(argv: list[str], *, timeout: float | None, duration: float | None = None,
              on_progress: Callable[[float], None] | None = None, tail_lines: int = 20,
              cwd=None, memory_limit_bytes: int | None = None) -> RunResult:
    """Run argv in its own process group (in directory cwd, so that argv can name files relative
    to it and stay reproducible), its data segment limited to memory_limit_bytes; report
    progress as a fraction of `duration`. Raises MediaMemoryLimit when an allocation failed
    under the limit, even if the program went on and exited 0 (its output may lack frames)."""
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    out_of_memory: list[str] = []
    process = subprocess.Popen(limited(argv, memory_limit_bytes), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True, cwd=cwd)
    marker = (lambda line: ran_out_of_memory(line, memory_limit_bytes)) if memory_limit_bytes else None
    reader = threading.Thread(target=_keep_tail, args=(process.stderr, tail, marker, out_of_memory), daemon=True)
    reader.start()
    report = _Progress(duration, on_progress)
    try:
        finished = _follow(process.stdout, deadline, report)
        if finished:
            try:
                process.wait(timeout=_remaining(deadline))
            except subprocess.TimeoutExpired:
                finished = False
    finally:
        _stop(process, reader)
    stderr_tail = "\n".join(tail)
    if not finished:
        raise MediaCommandTimeout(argv, process.returncode, stderr_tail,
                                  f"did not finish within the {timeout:g} s timeout and was killed")
    if out_of_memory:
        # the line that says so may have scrolled out of the tail
        shown = stderr_tail if out_of_memory[0] in tail else f"{out_of_memory[0]}\n...\n{stderr_tail}"
        raise MediaMemoryLimit(argv, process.returncode, shown, memory_limit_bytes)
    if process.returncode != 0:
        raise MediaCommandFailed(argv, process.returncode, stderr_tail)
    report.finished()
    return RunResult(process.returncode, stderr_tail, time.monotonic() - started)


@functools.cache
def tool_version(program: str = "ffmpeg") -> str:
    """First line of `program -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1 ..."."""
    completed = subprocess.run([program, "-version"], stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=30, check=True)
    return completed.stdout.splitlines()[0].strip()


class ProgressThrottle:
    """Passes a growing fraction on to a callback at most once per PROGRESS_INTERVAL_SECONDS,
    and 1.0 once at the end."""

    def __init__(self, callback: Callable[[float], None] | None):
        self.callback = callback
        self.reported = 0.0
        self.last_call = float("-inf")

    def offer(self, fraction: float) -> None:
        now = time.monotonic()
        if self.callback is not None and fraction > self.reported and now - self.last_call >= PROGRESS_INTERVAL_SECONDS:
            self._call(fraction, now)

    def finished(self) -> None:
        if self.callback is not None and self.reported < 1.0:
            self._call(1.0, time.monotonic())

    def _call(self, fraction: float, now: float) -> None:
        self.reported, self.last_call = fraction, now
        self.callback(fraction)


class _Progress(ProgressThrottle):
    """Turns `-progress` key=value lines into fractions of the duration."""

    def __init__(self, duration: float | None, on_progress: Callable[[float], None] | None):
        super().__init__(on_progress if duration and duration > 0 else None)
        self.duration = duration

    def line(self, line: str) -> None:
        key, _, value = line.strip().partition("=")
        # out_time_ms is in microseconds as well: a long-standing ffmpeg quirk.
        if self.callback is None or key not in ("out_time_us", "out_time_ms"):
            return
        try:
            self.offer(min(max(int(value) / 1e6 / self.duration, 0.0), 1.0))
        except ValueError:
            return  # "N/A" before the first frame is written


def _follow(stdout, deadline: float | None, report: _Progress) -> bool:
    """Read progress lines until stdout closes; False when the deadline passes first."""
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while True:
            wait = _remaining(deadline)
            if wait == 0:
                return False
            if not selector.select(wait):
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                return True
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                report.line(line.decode("ascii", "replace"))


def _keep_tail(stderr, tail: collections.deque, marker: Callable[[str], bool] | None, marked: list[str]) -> None:
    """Keep the last lines of stderr, and the first one `marker` picks out."""
    for raw in stderr:
        line = raw.decode("utf-8", "replace").rstrip()
        tail.append(line)
        if marker is not None and not marked and marker(line):
            marked.append(line)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def _stop(process: subprocess.Popen, reader: threading.Thread) -> None:
    """Kill the process group if its leader still runs, reap the leader, drain stderr."""
    if process.poll() is None:
        # Not yet reaped, so its id still names our group and cannot belong to anyone else.
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    reader.join(READER_JOIN_SECONDS)
    process.stdout.close()
    if not reader.is_alive():  # closing under a blocked reader would deadlock on its lock
        process.stderr.close()
