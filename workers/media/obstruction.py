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

import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from server.settings import ObstructionSettings
from workers.media.guard import picture_refusal
from workers.media.limits import MediaLimits
from workers.media.sampling import (Processes, SampleProgress, SamplingError, SamplingPlan, SamplingTimeout,
                                    parse_probe, probe_argv, run_jobs)

log = logging.getLogger(__name__)

UNREADABLE = "unreadable"
KEYFRAME_PASS_SHARE = 0.9  # of the progress reported; the refinements take the rest

ObstructionError = SamplingError
"""The video could not be analysed (no video stream, or ffmpeg decoded nothing)."""
ObstructionTimeout = SamplingTimeout
"""The analysis ran past its timeout; every process it started was killed."""


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


def analyze(path, settings: ObstructionSettings, *, duration: float | None, ffmpeg: str = "ffmpeg",
            ffprobe: str = "ffprobe", timeout: float | None = None,
            on_progress: Callable[[float], None] | None = None, limits: MediaLimits | None = None) -> ObstructionMap:
    """The obstruction map of the video at `path` over [0, duration) (None: as long as
    ffprobe says). Raises ObstructionTimeout past `timeout`, having killed every process it
    started, and ObstructionError when there is no video stream, no frame decodes or the
    picture is over limits.max_pixels (SamplingMemoryLimit when a process ran out of memory)."""
    limits = limits or MediaLimits()
    with (Processes(timeout, limits.memory_limit_bytes) as processes,
          ThreadPoolExecutor(settings.decode_processes) as pool):
        facts = parse_probe(json.loads(processes.output(probe_argv(path, ffprobe, limits.input_formats))))
        refusal = picture_refusal(facts.width, facts.height, limits.max_pixels)
        if refusal is not None:
            raise ObstructionError(refusal.reason)
        plan = SamplingPlan(path, settings, facts, duration if duration is not None else facts.duration, ffmpeg,
                            limits.input_formats)
        progress = SampleProgress(on_progress, plan.count, KEYFRAME_PASS_SHARE if plan.by_keyframes else 1.0)
        first_pass = plan.first_pass()
        judge = functools.partial(classify_sample, settings=settings)
        verdicts = run_jobs(pool, processes, first_pass, plan.size, judge, progress)
        refinements = []
        if plan.by_keyframes:
            plan.hold_last_keyframe(verdicts)
            refinements = plan.refinements(verdicts)
        progress.start_refining(sum(job.stop - job.first for job in refinements))
        verdicts.update(run_jobs(pool, processes, refinements, plan.size, judge, progress))

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


