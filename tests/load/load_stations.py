"""`make load`: LOAD_STATIONS simulated collection stations (default 50) upload recordings for
LOAD_SECONDS (default 600) against `fullrecord serve` with 2 `fullrecord worker`s, PostgreSQL,
Redis and SeaweedFS; then the stations stop and the backlog must drain.

Passes when no request failed (every answer the expected success, no exception or timeout),
the backlog drained within LOAD_DRAIN_SECONDS and every clip was processed. The figures are
printed as Markdown and written to test-artifacts/load.json before those checks, and the server's
and workers' logs kept in test-artifacts/load-logs/.
"""
from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
from redis import Redis
from sqlalchemy import func, select

from storage.db import make_engine
from storage.models import Clip
from storage.processing_models import ProcessingStep
from tests.load import report
from tests.load.backlog import BacklogSampler
from tests.load.recordings import BASE_CLIPS, make_base_clips
from tests.load.stack import LoadStack
from tests.load.stations import REQUEST_TIMEOUT, SimulatedStation
from tests.load.stats import RequestLog, by_kind, percentile, statuses

SECONDS = float(os.environ.get("LOAD_SECONDS", 600))
STATIONS = int(os.environ.get("LOAD_STATIONS", 50))
WORKERS = int(os.environ.get("LOAD_WORKERS", 2))
INTERVAL = tuple(float(part) for part in os.environ.get("LOAD_INTERVAL", "60,90").split(","))
"""Seconds between one station's recordings, drawn uniformly from this range. 50 stations then offer
~40 recordings a minute: about what 2 workers on a 2-core machine can process of these clips
(~35-45 a minute, each clip 5 jobs), so the workers stay busy the whole run and the backlog drains
in minutes. (At 20-30 s, ~120 a minute, the API still answers every request, but the backlog grows
by ~80 clips a minute and would take longer to drain than the run lasted.)"""
CHUNK_BYTES = int(os.environ.get("LOAD_CHUNK_BYTES", 512 * 1024))
REPORT_SECONDS = 30.0
SAMPLE_SECONDS = 10.0
DRAIN_SECONDS = float(os.environ.get("LOAD_DRAIN_SECONDS", 900))
FINAL_CLIP_STATES = ("processed",)
SETUP_SECONDS = 600
"""Bound on everything besides the load and the drain: services, stations, clips, figures."""


@pytest.mark.timeout(SECONDS + DRAIN_SECONDS + REQUEST_TIMEOUT * 4 + SETUP_SECONDS)
def test_load(tmp_path, postgres_url, redis_url, seaweedfs):
    stack = LoadStack(tmp_path / "stack", postgres_url=postgres_url, redis_url=redis_url,
                      s3=seaweedfs.settings(f"load-{uuid.uuid4().hex[:16]}"), workers=WORKERS)
    engine = make_engine(postgres_url)
    redis = Redis.from_url(redis_url)
    stop, sampler = threading.Event(), None
    try:
        tokens = stack.prepare(STATIONS)
        stack.start()
        devices = stack.register_devices(STATIONS)
        base = make_base_clips(tmp_path / "clips")
        log = RequestLog()
        sampler = BacklogSampler(engine, redis, stack.settings.workers.queues, log, stack.server.process.pid,
                                 [worker.process.pid for worker in stack.workers], every=SAMPLE_SECONDS)
        sampler.start()
        stations = [SimulatedStation(number, stack.url, tokens[number], devices[number], base, log, stop,
                                     interval=INTERVAL, chunk_bytes=CHUNK_BYTES, report_seconds=REPORT_SECONDS,
                                     seed=number) for number in range(STATIONS)]
        for station in stations:
            station.start()
        stop.wait(SECONDS)
        stop.set()
        for station in stations:  # an upload under way is finished, within its requests' time limits
            station.join(REQUEST_TIMEOUT * 4)
        load_seconds = log.now()
        drained, drain_seconds = wait_drained(sampler)
        sampler.stop()
        figures = collect(stack.settings, engine, log, sampler, load_seconds, drained, drain_seconds)
        figures["log_problems"] = stack.log_problems()
        print("\n\n" + report.markdown(figures) + f"\n\n(written to {report.write(figures)})\n")
    finally:
        stop.set()  # when something above failed: no station goes on against a stopped server
        if sampler is not None:
            sampler.stop()
        stack.stop()
        stack.keep_logs(report.LOGS)
        engine.dispose()
        redis.close()

    crashed = [f"{station.name}: {station.crash!r}" for station in stations if station.crash or station.is_alive()]
    assert not crashed, f"simulated stations broke or hung (a harness bug): {crashed}"
    totals = figures["totals"]
    assert totals["uploads"] > 0, "no upload completed"
    assert totals["errors"] == 0, (f"{totals['errors']} of {totals['requests']} requests failed "
                                   f"(statuses {figures['statuses']}; a 429 is the rate limiter):\n"
                                   f"{figures['error_samples']}\n{stack.log_tails()}")
    assert drained, f"the backlog did not drain within {DRAIN_SECONDS:.0f} s: {sampler.samples[-1]}"
    processing = figures["processing"]
    assert processing["failed_steps"] == 0 and processing["processed"] == processing["clips"], processing


def wait_drained(sampler: BacklogSampler) -> tuple[bool, float]:
    """(drained?, seconds waited): until no job is queued or running and every clip is processed."""
    start = time.monotonic()
    while time.monotonic() - start < DRAIN_SECONDS:
        if sampler.sample().drained:
            return True, time.monotonic() - start
        time.sleep(2)
    return False, time.monotonic() - start


def step_seconds(engine) -> dict:
    """Runs, mean and p95 wall time of each processing step (kind/profile) in the run."""
    with engine.connect() as connection:
        rows = connection.execute(select(ProcessingStep.step, ProcessingStep.profile, ProcessingStep.seconds)
                                  .where(ProcessingStep.seconds.is_not(None))).all()
    timings: dict[str, list[float]] = {}
    for step, profile, seconds in rows:
        timings.setdefault(f"{step}/{profile}" if profile else step, []).append(seconds)
    return {name: {"runs": len(values), "mean": round(sum(values) / len(values), 2),
                   "p95": round(percentile(sorted(values), 0.95), 2)} for name, values in sorted(timings.items())}


def collect(settings, engine, log: RequestLog, sampler: BacklogSampler, load_seconds: float, drained: bool,
            drain_seconds: float) -> dict:
    requests = log.snapshot()
    errors = sum(not request.ok for request in requests)
    with engine.connect() as connection:
        clip_states = dict(connection.execute(select(Clip.status, func.count()).group_by(Clip.status)).all())
        failed_steps = connection.scalar(select(func.count()).select_from(ProcessingStep)
                                         .where(ProcessingStep.status == "failed"))
        retried_steps = connection.scalar(select(func.count()).select_from(ProcessingStep)
                                          .where(ProcessingStep.attempts > 1))
    series = sampler.series()
    peak = max(series, key=lambda sample: (sample["queued_jobs"], sample["unprocessed_clips"]), default={})
    return {
        "run": {"stations": STATIONS, "seconds": round(load_seconds, 1), "configured_seconds": SECONDS,
                "workers": WORKERS, "interval_seconds": list(INTERVAL), "chunk_bytes": CHUNK_BYTES,
                "report_seconds": REPORT_SECONDS, "base_clips": [list(clip) for clip in BASE_CLIPS],
                "api_processes": settings.server.processes, "api_threads": settings.server.threads},
        "totals": {"uploads": log.uploads, "bytes": log.upload_bytes,
                   "uploads_per_minute": round(log.uploads / load_seconds * 60, 2),
                   "mb_per_second": round(log.upload_bytes / load_seconds / 1e6, 3),
                   "requests": len(requests), "errors": errors,
                   "error_rate": round(errors / len(requests), 5) if requests else 0.0},
        "statuses": statuses(requests),
        "latency": by_kind(requests),
        "processing": {"clips": sum(clip_states.values()), "by_status": clip_states,
                       "processed": sum(clip_states.get(state, 0) for state in FINAL_CLIP_STATES),
                       "failed_steps": failed_steps, "retried_steps": retried_steps,
                       "step_seconds": step_seconds(engine)},
        "backlog_peak": {key: peak.get(key, 0) for key in ("t", "queued_jobs", "unprocessed_clips")},
        "drain": {"drained": drained, "seconds": round(drain_seconds, 1)},
        "memory": {"api_rss_mb": [series[0]["api_rss_mb"], series[-1]["api_rss_mb"]] if series else [0, 0],
                   "workers_rss_mb": [series[0]["workers_rss_mb"], series[-1]["workers_rss_mb"]] if series else [0, 0]},
        "backlog": series,
        "error_samples": log.errors,
    }
