"""Obstruction map: the intervals where a video's picture is dark, covered or badly blurred.

Frames are sampled at `sample_fps`, scaled to `analysis_width` and judged by classify_sample;
merge_samples turns judged samples into intervals. Both are pure; analyze runs ffprobe/ffmpeg.

Reading frames (60 s 1080p30 H.264 High, 10 Mbit/s, keyframe every second, 2 shared cores):
decoding every frame costs 7-8 s (~8x real time) whatever the tuning (no loop filter,
-flags2 fast, cv2.VideoCapture: the same; skipping B-frames: 5 s), so 20x real time needs
fewer frames decoded. Keyframes alone (`-skip_frame nokey`) take ~1.5 s. So when keyframes
are at most `keyframe_interval_seconds` apart (recorders write one every 1-2 s), a first
pass decodes keyframes only, each standing for the samples up to the next, and each change
of verdict between two keyframes (and the stretch after the last one) is then decoded in
full from the keyframe before it. An obstruction at least one keyframe interval long holds
a keyframe, so it is found, with edges to one sample as in a full decode; shorter ones may
be missed. Sparse keyframes (x264's default: every 250 frames) mean every frame is decoded.
Both passes run up to `decode_processes` ffmpeg processes side by side, the first pass on
chunks cut at keyframes. Result: ~2 s for that clip (~30x), see docs/benchmarks.md.
"""
from __future__ import annotations

import bisect
import json
import logging
import math
import os
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from server.settings import ObstructionSettings
from workers.media.run import PROGRESS_INTERVAL_SECONDS, ProgressThrottle

log = logging.getLogger(__name__)

UNREADABLE = "unreadable"
KEYFRAME_PASS_SHARE = 0.9  # of the progress reported; the refinements take the rest
# Shorter chunks are not worth their own ffmpeg process (~0.1 s to start and seek).
MIN_CHUNK_SECONDS = 8
STDERR_TAIL_BYTES = 2000


class ObstructionError(Exception):
    """The video could not be analysed (no video stream, or ffmpeg decoded nothing)."""


class ObstructionTimeout(ObstructionError):
    """The analysis ran past its timeout; every process it started was killed."""


class _Stopped(ObstructionError):
    """A decoding process was killed because another part of the analysis failed."""


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    reason: str
    detail: dict

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class ObstructionMap:
    intervals: list[Interval]
    samples: int
    sample_fps: float
    analysed_seconds: float
    thresholds: dict
    # How the frames were read: "keyframes" (refined around changes) or "all_frames".
    decoding: str = "all_frames"
    refined_spans: list[tuple[float, float]] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)  # the first decoding pass, for the record

    @property
    def obstructed_seconds(self) -> float:
        return round(sum(interval.end - interval.start for interval in self.intervals), 3)

    def as_dict(self) -> dict:
        return {"intervals": [interval.as_dict() for interval in self.intervals],
                "obstructed_seconds": self.obstructed_seconds, "samples": self.samples,
                "sample_fps": self.sample_fps, "analysed_seconds": self.analysed_seconds,
                "thresholds": dict(self.thresholds), "decoding": self.decoding,
                "refined_spans": [list(span) for span in self.refined_spans]}


def measure(gray: np.ndarray) -> dict:
    """Luma statistics of one picture. Percentiles rather than mean, stddev and max, so that a
    recorder's burned-in timestamp (a few % of the picture) does not hide a black frame."""
    luma = gray.astype(np.float32)
    low, high = np.percentile(luma, (5, 95))
    contrast = float(high - low)
    laplacian = np.abs(cv2.Laplacian(luma, cv2.CV_32F))
    # Fine detail relative to contrast: blur removes the first and keeps the second, while a
    # scene that is merely low in contrast loses both alike.
    sharpness = float(np.percentile(laplacian, 90)) / max(contrast, 1.0)
    return {"mean_luma": round(float(luma.mean()), 2), "luma_p95": round(float(high), 2),
            "contrast": round(contrast, 2), "sharpness": round(sharpness, 4)}


def classify_sample(gray: np.ndarray, settings: ObstructionSettings) -> tuple[str | None, dict]:
    """The obstruction one 8-bit grey picture shows (None: usable), and the measures behind it."""
    measures = measure(gray)
    if measures["luma_p95"] < settings.dark_luma:
        return "dark", measures
    if measures["contrast"] < settings.covered_contrast:
        return "covered", measures
    if measures["sharpness"] < settings.blurred_sharpness:
        return "blurred", measures
    return None, measures


def merge_samples(samples: list[tuple[float, str | None, dict]], *, sample_interval: float,
                  min_interval: float, end: float) -> list[Interval]:
    """Intervals from judged samples (time, reason, measures); each sample stands for
    [t, t + sample_interval), cut at `end`. Time that no sample covers up to `end` is
    "unreadable". Runs of one reason merge; runs shorter than min_interval are dropped."""
    pieces: list[tuple[float, float, str, dict | None]] = []
    covered_until = 0.0
    for time_, reason, measures in sorted(samples, key=lambda sample: sample[0]):
        start, stop = max(time_, covered_until), min(time_ + sample_interval, end)
        if stop <= start:
            continue
        if start - covered_until > 1e-6:
            pieces.append((covered_until, start, UNREADABLE, None))
        if reason is not None:
            pieces.append((start, stop, reason, measures))
        covered_until = stop
    if end - covered_until > 1e-6:
        pieces.append((covered_until, end, UNREADABLE, None))

    runs: list[list] = []  # [start, end, reason, [measures, ...]]
    for start, stop, reason, measures in pieces:
        if runs and runs[-1][2] == reason and abs(runs[-1][1] - start) < 1e-6:
            runs[-1][1] = stop
        else:
            runs.append([start, stop, reason, []])
        if measures is not None:
            runs[-1][3].append(measures)
    return [Interval(round(start, 3), round(stop, 3), reason, _detail(reason, start, measured))
            for start, stop, reason, measured in runs if stop - start >= min_interval - 1e-6]


def _detail(reason: str, start: float, measured: list[dict]) -> dict:
    if reason == UNREADABLE:
        return {"decoded_until": round(start, 3)}
    return {key: round(sum(m[key] for m in measured) / len(measured), 4) for key in measured[0]}


def frame_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    """The judged picture: analysis_width wide, the source's aspect, an even height."""
    return analysis_width, max(2, 2 * round(analysis_width * height / width / 2))


def decode_argv(path, size: tuple[int, int], sample_fps: float, *, keyframes_only: bool,
                seek: float | None = None, accurate: bool = True, length: float | None = None,
                ffmpeg: str = "ffmpeg") -> list[str]:
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
    argv += ["-i", os.fspath(path), "-map", "0:v:0",
             "-vf", f"fps={sample_fps:g}:eof_action=pass,scale={width}:{height}:flags=area,format=gray",
             "-f", "rawvideo", "pipe:1"]
    return argv


@dataclass(frozen=True)
class VideoFacts:
    width: int
    height: int
    duration: float | None
    keyframes: list[float]  # seconds from the start of the file, as ffmpeg's -ss counts them


def probe_argv(path, ffprobe: str = "ffprobe") -> list[str]:
    return [ffprobe, "-v", "error", "-select_streams", "v:0", "-of", "json", "-show_entries",
            "stream=width,height,duration:format=start_time,duration:packet=pts_time,flags",
            "-i", os.fspath(path)]


def parse_probe(data: dict) -> VideoFacts:
    """Reduce the JSON that probe_argv prints (a packet list: demuxing only, no decoding)."""
    streams = data.get("streams") or []
    if not streams or not streams[0].get("width"):
        raise ObstructionError("no video stream")
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
class _Job:
    argv: list[str]
    first: int  # index of the sample its first frame is
    stop: int | None  # frames from this index on are not its to judge


class _Plan:
    """Which ffmpeg commands read a video's samples, given what ffprobe found."""

    def __init__(self, path, settings: ObstructionSettings, facts: VideoFacts, end: float | None, ffmpeg: str):
        self.path, self.settings, self.facts, self.end, self.ffmpeg = path, settings, facts, end, ffmpeg
        self.interval = 1.0 / settings.sample_fps
        self.size = frame_size(facts.width, facts.height, settings.analysis_width)
        self.count = math.ceil(end / self.interval - 1e-6) if end else None
        self.by_keyframes = bool(end) and keyframes_dense(facts.keyframes, end, settings.keyframe_interval_seconds)

    def first_pass(self) -> list[_Job]:
        """Chunks from keyframe to keyframe, each started at its keyframe (no decoding before)."""
        cuts = split_points(self.facts.keyframes, self.end, self.settings.decode_processes) if self.end else []
        bounds = [None, *cuts, None]
        return [_Job(self._argv(keyframes_only=self.by_keyframes, accurate=False,
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

    def refinements(self, verdicts: dict[int, tuple]) -> list[_Job]:
        reasons = []  # up to the first sample missing, if any
        while len(reasons) in verdicts:
            reasons.append(verdicts[len(reasons)][0])
        # The fps filter shows at each sample the last frame before the next half interval.
        return [_Job(self._argv(keyframes_only=False, seek=first * self.interval,
                                length=(stop - first - 0.5) * self.interval), first, stop)
                for first, stop in refine_spans(reasons, self.facts.keyframes, self.interval, self.count)]

    def _argv(self, **options) -> list[str]:
        return decode_argv(self.path, self.size, self.settings.sample_fps, ffmpeg=self.ffmpeg, **options)


def analyze(path, settings: ObstructionSettings, *, duration: float | None, ffmpeg: str = "ffmpeg",
            ffprobe: str = "ffprobe", timeout: float | None = None,
            on_progress: Callable[[float], None] | None = None) -> ObstructionMap:
    """The obstruction map of the video at `path` over [0, duration) (None: as long as
    ffprobe says). Raises ObstructionTimeout past `timeout`, having killed every process it
    started, and ObstructionError when there is no video stream or no frame decodes."""
    with _Processes(timeout) as processes, ThreadPoolExecutor(settings.decode_processes) as pool:
        facts = parse_probe(json.loads(processes.output(probe_argv(path, ffprobe))))
        plan = _Plan(path, settings, facts, duration if duration is not None else facts.duration, ffmpeg)
        progress = _Progress(on_progress, plan.count, KEYFRAME_PASS_SHARE if plan.by_keyframes else 1.0)
        first_pass = plan.first_pass()
        verdicts = _run(pool, processes, first_pass, plan.size, settings, progress)
        refinements = []
        if plan.by_keyframes:
            plan.hold_last_keyframe(verdicts)
            refinements = plan.refinements(verdicts)
        progress.start_refining(sum(job.stop - job.first for job in refinements))
        verdicts.update(_run(pool, processes, refinements, plan.size, settings, progress))

    interval = plan.interval
    end = plan.end or len(verdicts) * interval
    samples = [(index * interval, reason, measures) for index, (reason, measures) in sorted(verdicts.items())
               if index * interval < end]
    intervals = merge_samples(samples, sample_interval=interval, min_interval=settings.min_interval_seconds, end=end)
    progress.finished()
    return ObstructionMap(intervals=intervals, samples=len(samples), sample_fps=settings.sample_fps,
                          analysed_seconds=round(end, 3), thresholds=settings.model_dump(),
                          decoding="keyframes" if plan.by_keyframes else "all_frames",
                          refined_spans=[(round(job.first * interval, 3), round(job.stop * interval, 3))
                                         for job in refinements],
                          argv=first_pass[0].argv)


def _run(pool: ThreadPoolExecutor, processes: _Processes, jobs: list[_Job], size: tuple[int, int],
         settings: ObstructionSettings, progress: _Progress) -> dict[int, tuple[str | None, dict]]:
    """Run the jobs side by side and collect their verdicts; on any failure stop them all and
    raise the failure that came first (not the stops it caused)."""
    futures = [pool.submit(_decode, processes, job, size, settings, progress) for job in jobs]
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


def _decode(processes: _Processes, job: _Job, size: tuple[int, int], settings: ObstructionSettings,
            progress: _Progress) -> dict[int, tuple[str | None, dict]]:
    width, height = size
    verdicts = {}

    def judge(stdout) -> None:
        index = job.first
        while len(raw := stdout.read(width * height)) == width * height:
            if job.stop is None or index < job.stop:
                verdicts[index] = classify_sample(np.frombuffer(raw, np.uint8).reshape(height, width), settings)
                progress.decoded()
            index += 1

    returncode, stderr_tail = processes.run(job.argv, judge)
    if returncode != 0 and not verdicts:
        raise ObstructionError(f"ffmpeg decoded no frame (exit code {returncode}): {stderr_tail}")
    if returncode != 0:  # the samples it could not give count as unreadable
        log.warning("ffmpeg exited with code %d after %d samples: %s", returncode, len(verdicts), stderr_tail)
    return verdicts


class _Processes:
    """The processes of one analysis, each in its own process group. All are killed at the
    deadline or as soon as the analysis fails, and none outlives it."""

    def __init__(self, timeout: float | None):
        self.timeout = timeout
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen] = set()
        self.stopped = self.timed_out = False
        self.timer = None if timeout is None else threading.Timer(timeout, self._expire)
        if self.timer is not None:
            self.timer.daemon = True

    def __enter__(self) -> _Processes:
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
            raise ObstructionError(f"{os.path.basename(argv[0])} exited with code {returncode}: {stderr_tail}")
        return b"".join(chunks)

    def run(self, argv: list[str], consume: Callable) -> tuple[int, str]:
        """Start argv, hand its stdout to consume, reap it; (exit code, end of its stderr)."""
        with tempfile.TemporaryFile() as stderr:
            with self.lock:
                if self.stopped:
                    raise self._stopped_error()
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=stderr, start_new_session=True)
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
            return returncode, stderr.read()[-STDERR_TAIL_BYTES:].decode("utf-8", "replace").strip()

    def _stopped_error(self) -> ObstructionError:
        if self.timed_out:
            return ObstructionTimeout(f"obstruction analysis ran past its {self.timeout:g} s timeout; "
                                      f"its processes were killed")
        return _Stopped("stopped: another part of the analysis failed")


class _Progress(ProgressThrottle):
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
