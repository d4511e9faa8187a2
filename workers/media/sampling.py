"""Reading a video's pictures as small grey samples with ffmpeg, fast.

The plan (`SamplingPlan`): when keyframes are dense, a first pass decodes keyframes only, in
chunks cut at keyframes and decoded side by side; the spans where the verdict changes are then
decoded in full. `Processes` runs the ffmpeg processes of one analysis, each in its own process
group, kills them all at the deadline or on the first failure, and lets none outlive it. Why
keyframes: see workers/media/obstruction.py.
"""
from __future__ import annotations

import bisect
import logging
import math
import os
import signal
import subprocess
import tempfile
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from server.settings import ObstructionSettings
from workers.media.limits import (RECORDER_INPUT_FORMATS, MemoryLimitExceeded, input_options, limited,
                                  ran_out_of_memory, size_text)
from workers.media.run import PROGRESS_INTERVAL_SECONDS, ProgressThrottle

log = logging.getLogger(__name__)

# Shorter chunks are not worth their own ffmpeg process (~0.1 s to start and seek).
MIN_CHUNK_SECONDS = 8
STDERR_TAIL_BYTES = 2000
# A judged picture is at most this many times as tall as it is wide (a 9:16 portrait is 1.8), so
# no declared aspect can make one sample's buffer large.
MAX_SAMPLE_ASPECT = 4


class SamplingError(Exception):
    """The video could not be read (no video stream, or ffmpeg decoded nothing)."""


class SamplingTimeout(SamplingError):
    """Reading ran past its timeout; every process it started was killed."""


class _Stopped(SamplingError):
    """A decoding process was killed because another part of the reading failed."""


class SamplingMemoryLimit(SamplingError, MemoryLimitExceeded):
    """A process of the analysis ran out of its memory limit."""

    def __init__(self, program: str, limit_bytes: int, stderr_tail: str):
        super().__init__(f"{program} ran out of its memory limit of {size_text(limit_bytes)}: {stderr_tail}")
        self.program, self.limit_bytes = program, limit_bytes


def frame_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    """The judged picture: analysis_width wide, the source's aspect (up to MAX_SAMPLE_ASPECT),
    an even height."""
    if width <= 0 or height <= 0:
        raise SamplingError(f"the video declares an impossible picture size {width}x{height}")
    tallest = MAX_SAMPLE_ASPECT * analysis_width
    return analysis_width, min(tallest, max(2, 2 * round(analysis_width * height / width / 2)))


def decode_argv(path, size: tuple[int, int], sample_fps: float, *, keyframes_only: bool,
                seek: float | None = None, accurate: bool = True, length: float | None = None,
                ffmpeg: str = "ffmpeg", input_formats: Sequence[str] = RECORDER_INPUT_FORMATS) -> list[str]:
    """ffmpeg writing grey frames of `size` at sample_fps as raw bytes to stdout, from `seek`
    (accurate: from exactly there; else from the keyframe at or before it) for `length` s."""
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-noautorotate"]
    if keyframes_only:
        argv += ["-skip_frame", "nokey"]
    if seek is not None:
        argv += ([] if accurate else ["-noaccurate_seek"]) + ["-ss", f"{seek:.6f}"]
    if length is not None:
        argv += ["-t", f"{length:.6f}"]
    width, height = size
    # eof_action=pass: with keyframes only, the last keyframe would otherwise be dropped.
    argv += [*input_options(path, input_formats), "-i", os.fspath(path), "-map", "0:v:0",
             "-vf", f"fps={sample_fps:g}:eof_action=pass,scale={width}:{height}:flags=area,format=gray",
             "-f", "rawvideo", "pipe:1"]
    return argv


@dataclass(frozen=True)
class VideoFacts:
    width: int
    height: int
    duration: float | None
    keyframes: list[float]  # seconds from the start of the file, as ffmpeg's -ss counts them


def probe_argv(path, ffprobe: str = "ffprobe", input_formats: Sequence[str] = RECORDER_INPUT_FORMATS) -> list[str]:
    return [ffprobe, "-v", "error", "-select_streams", "v:0", "-of", "json", "-show_entries",
            "stream=width,height,duration:format=start_time,duration:packet=pts_time,flags",
            *input_options(path, input_formats), "-i", os.fspath(path)]


def parse_probe(data: dict) -> VideoFacts:
    """Reduce the JSON that probe_argv prints (a packet list: demuxing only, no decoding)."""
    streams = data.get("streams") or []
    if not streams or not streams[0].get("width"):
        raise SamplingError("no video stream")
    stream, container = streams[0], data.get("format") or {}
    origin = _seconds(container.get("start_time")) or 0.0
    keyframes = sorted(seconds - origin for packet in data.get("packets") or []
                       if "K" in packet.get("flags", "")
                       and (seconds := _seconds(packet.get("pts_time"))) is not None)
    duration = _seconds(stream.get("duration")) or _seconds(container.get("duration"))
    return VideoFacts(int(stream["width"]), int(stream["height"]), duration, keyframes)


def keyframes_dense(keyframes: list[float], end: float, limit: float) -> bool:
    """No stretch of the video, its end included, longer than `limit` without a keyframe."""
    if len(keyframes) < 2 or keyframes[0] > limit:
        return False
    return bool(np.diff([*keyframes, max(end, keyframes[-1])]).max() <= limit)


def split_points(keyframes: list[float], end: float, parts: int) -> list[float]:
    """Keyframes that cut the video into about `parts` equal chunks, decoded side by side."""
    parts = min(parts, int(end // MIN_CHUNK_SECONDS))
    if not keyframes:
        return []
    cuts = {min(keyframes, key=lambda keyframe: abs(keyframe - end * n / parts)) for n in range(1, parts)}
    return sorted(cut for cut in cuts if 0 < cut < end)


def refine_spans(reasons: list[str | None], keyframes: list[float], sample_interval: float,
                 count: int) -> list[tuple[int, int]]:
    """Sample index ranges [first, stop) to decode in full after a keyframe-only pass gave
    `reasons`: those between the keyframe shown before each change of verdict and the one
    shown after it, and those after the last keyframe (up to `count`) when it shows an
    obstruction, whose end is then found, or when samples are missing."""
    # The fps filter shows a keyframe from the sample nearest to it onward.
    shown_from = sorted({round(keyframe / sample_interval) for keyframe in keyframes})
    wanted = []
    for index in range(len(reasons) - 1):
        if reasons[index] != reasons[index + 1]:
            after = bisect.bisect_right(shown_from, index)
            before = shown_from[after - 1] if after else -1
            wanted.append((before + 1, shown_from[after] if after < len(shown_from) else index + 1))
    if len(reasons) < count or reasons[-1] is not None:
        wanted.append((min(len(reasons), shown_from[-1] + 1 if shown_from else 0), count))
    spans: list[tuple[int, int]] = []
    for first, stop in sorted(span for span in wanted if span[0] < span[1]):
        if spans and first <= spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], max(stop, spans[-1][1]))
        else:
            spans.append((first, stop))
    return spans


@dataclass(frozen=True)
class DecodeJob:
    argv: list[str]
    first: int  # index of the sample its first frame is
    stop: int | None  # frames from this index on are not its to judge


class SamplingPlan:
    """Which ffmpeg commands read a video's samples, given what ffprobe found."""

    def __init__(self, path, settings: ObstructionSettings, facts: VideoFacts, end: float | None, ffmpeg: str,
                 input_formats: Sequence[str] = RECORDER_INPUT_FORMATS):
        self.path, self.settings, self.facts, self.end, self.ffmpeg = path, settings, facts, end, ffmpeg
        self.input_formats = tuple(input_formats)
        self.interval = 1.0 / settings.sample_fps
        self.size = frame_size(facts.width, facts.height, settings.analysis_width)
        self.count = math.ceil(end / self.interval - 1e-6) if end else None
        self.by_keyframes = bool(end) and keyframes_dense(facts.keyframes, end, settings.keyframe_interval_seconds)

    def first_pass(self) -> list[DecodeJob]:
        """Chunks from keyframe to keyframe, each started at its keyframe (no decoding before)."""
        cuts = split_points(self.facts.keyframes, self.end, self.settings.decode_processes) if self.end else []
        bounds = [None, *cuts, None]
        return [DecodeJob(self._argv(keyframes_only=self.by_keyframes, accurate=False,
                                seek=None if start is None else start + 1e-6,
                                length=None if stop is None else stop - (start or 0)),
                     0 if start is None else round(start / self.interval),
                     None if stop is None else round(stop / self.interval))
                for start, stop in zip(bounds, bounds[1:])]

    def hold_last_keyframe(self, verdicts: dict[int, tuple]) -> None:
        """The fps filter stops at the last keyframe, not at the end of the video: the samples
        after it show that keyframe too."""
        last = max(verdicts, default=-1)
        if self.facts.keyframes and last >= round(self.facts.keyframes[-1] / self.interval):
            verdicts.update({index: verdicts[last] for index in range(last + 1, self.count)})

    def refinements(self, verdicts: dict[int, tuple]) -> list[DecodeJob]:
        reasons = []  # up to the first sample missing, if any
        while len(reasons) in verdicts:
            reasons.append(verdicts[len(reasons)][0])
        # The fps filter shows at each sample the last frame before the next half interval.
        return [DecodeJob(self._argv(keyframes_only=False, seek=first * self.interval,
                                length=(stop - first - 0.5) * self.interval), first, stop)
                for first, stop in refine_spans(reasons, self.facts.keyframes, self.interval, self.count)]

    def _argv(self, **options) -> list[str]:
        return decode_argv(self.path, self.size, self.settings.sample_fps, ffmpeg=self.ffmpeg,
                           input_formats=self.input_formats, **options)


def run_jobs(pool: ThreadPoolExecutor, processes: Processes, jobs: list[DecodeJob], size: tuple[int, int],
             judge: Callable[[np.ndarray], tuple], progress: SampleProgress) -> dict[int, tuple]:
    """Run the jobs side by side and collect their verdicts; on any failure stop them all and
    raise the failure that came first (not the stops it caused)."""
    futures = [pool.submit(_decode, processes, job, size, judge, progress) for job in jobs]
    try:
        while True:
            done, pending = wait(futures, PROGRESS_INTERVAL_SECONDS, return_when=FIRST_EXCEPTION)
            if not pending or any(future.exception() for future in done):
                break
            progress.report()
    except BaseException:  # from on_progress
        processes.stop()
        wait(futures)
        raise
    if any(future.exception() for future in done):
        processes.stop()
        wait(futures)
        failures = [future.exception() for future in futures if future.exception()]
        raise min(failures, key=lambda failure: isinstance(failure, _Stopped))
    progress.report()
    verdicts: dict[int, tuple[str | None, dict]] = {}
    for future in futures:
        verdicts.update(future.result())
    return verdicts


def _decode(processes: Processes, job: DecodeJob, size: tuple[int, int], judge: Callable[[np.ndarray], tuple],
            progress: SampleProgress) -> dict[int, tuple]:
    width, height = size
    verdicts = {}

    def read(stdout) -> None:
        index = job.first
        while len(raw := stdout.read(width * height)) == width * height:
            if job.stop is None or index < job.stop:
                verdicts[index] = judge(np.frombuffer(raw, np.uint8).reshape(height, width))
                progress.decoded()
            index += 1

    returncode, stderr_tail = processes.run(job.argv, read)
    if returncode != 0 and not verdicts:
        raise SamplingError(f"ffmpeg decoded no frame (exit code {returncode}): {stderr_tail}")
    if returncode != 0:  # the samples it could not give count as unreadable
        log.warning("ffmpeg exited with code %d after %d samples: %s", returncode, len(verdicts), stderr_tail)
    return verdicts


class Processes:
    """The processes of one analysis, each in its own process group and under the memory limit.
    All are killed at the deadline or as soon as the analysis fails, and none outlives it."""

    def __init__(self, timeout: float | None, memory_limit_bytes: int | None = None):
        self.timeout, self.memory_limit_bytes = timeout, memory_limit_bytes
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen] = set()
        self.stopped = self.timed_out = False
        self.timer = None if timeout is None else threading.Timer(timeout, self._expire)
        if self.timer is not None:
            self.timer.daemon = True

    def __enter__(self) -> Processes:
        if self.timer is not None:
            self.timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.stop()

    def _expire(self) -> None:
        self.timed_out = True
        self.stop()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            for process in self.running:
                # Only run() reaps, under this lock: the group id cannot have been reused.
                os.killpg(process.pid, signal.SIGKILL)

    def output(self, argv: list[str]) -> bytes:
        chunks = []
        returncode, stderr_tail = self.run(argv, lambda stdout: chunks.append(stdout.read()))
        if returncode != 0:
            raise SamplingError(f"{os.path.basename(argv[0])} exited with code {returncode}: {stderr_tail}")
        return b"".join(chunks)

    def run(self, argv: list[str], consume: Callable) -> tuple[int, str]:
        """Start argv, hand its stdout to consume, reap it; (exit code, end of its stderr)."""
        with tempfile.TemporaryFile() as stderr:
            with self.lock:
                if self.stopped:
                    raise self._stopped_error()
                process = subprocess.Popen(limited(argv, self.memory_limit_bytes), stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
                self.running.add(process)
            try:
                consume(process.stdout)
            except BaseException:
                self.stop()
                raise
            finally:
                process.stdout.close()
                os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
                with self.lock:
                    os.killpg(process.pid, signal.SIGKILL)  # anything it left behind in its group
                    self.running.discard(process)
                    returncode = process.wait()
            if self.stopped:  # killed by the deadline or because another process failed
                raise self._stopped_error()
            stderr.seek(0)
            tail = stderr.read()[-STDERR_TAIL_BYTES:].decode("utf-8", "replace").strip()
            if ran_out_of_memory(tail, self.memory_limit_bytes):
                raise SamplingMemoryLimit(os.path.basename(argv[0]), self.memory_limit_bytes, tail)
            return returncode, tail

    def _stopped_error(self) -> SamplingError:
        if self.timed_out:
            return SamplingTimeout(f"obstruction analysis ran past its {self.timeout:g} s timeout; "
                                      f"its processes were killed")
        return _Stopped("stopped: another part of the analysis failed")


class SampleProgress(ProgressThrottle):
    """Counts judged samples (from any thread); reports the fraction done from the calling thread."""

    def __init__(self, callback: Callable[[float], None] | None, expected: int | None, first_pass_share: float):
        super().__init__(callback)
        self.expected, self.share = expected, first_pass_share
        self.done, self.base = 0, 0.0
        self.lock = threading.Lock()

    def decoded(self) -> None:
        with self.lock:
            self.done += 1

    def start_refining(self, samples: int) -> None:
        with self.lock:
            self.base, self.expected, self.share, self.done = self.share, samples, 1.0 - self.share, 0

    def report(self) -> None:
        if self.callback is None or not self.expected:
            return
        with self.lock:
            fraction = self.base + self.share * min(self.done / self.expected, 1.0)
        self.offer(fraction)


def _seconds(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
