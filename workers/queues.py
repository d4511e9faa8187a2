"""RQ queues and the worker loop. Jobs are plain functions taking ids; they are
serialized as JSON so that any worker host can run them."""
from __future__ import annotations

import logging
import subprocess
import time

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer

from server.settings import Settings

log = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 2.0
"""Pause before a worker that RQ stopped on a lost Redis connection starts again."""


def redis_connection(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis.url, socket_connect_timeout=settings.redis.connect_timeout)


def queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def enqueue_or_defer(connection: Redis, queue_name: str, function: str, argument: str, *, job_id: str,
                     timeout: int, what: str) -> bool:
    """Hand a job whose database row is committed to RQ; False when Redis is away (the row stays
    queued and the sweeper's reconcile hands it out later). Results are kept a day, failures 30."""
    try:
        queue(queue_name, connection).enqueue(function, argument, job_id=job_id, job_timeout=timeout,
                                              result_ttl=86400, failure_ttl=30 * 86400, description=what)
    except (RedisError, OSError) as exc:
        log.warning("Redis unavailable, %s stays queued for the sweeper: %s", what, exc)
        return False
    return True


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> bool:
    """Work the configured queues until stopped (or, with burst, until they are empty), sweeping
    expired uploads and the outbox beside it."""
    from server.runtime import Runtime
    from workers.context import set_runtime
    from workers.sweeper import SweeperProcess, sweep

    connection = redis_connection(settings)
    rt = Runtime(settings)
    set_runtime(rt)
    queues = [queue(name_, connection) for name_ in settings.workers.queues]
    _preload(settings)
    worker = Worker(queues, connection=connection, serializer=JSONSerializer, name=name)
    if burst:
        sweep(rt, connection)
        return worker.work(burst=True)
    sweeper = SweeperProcess(settings, settings.workers.sweep_seconds)
    sweeper.start()
    try:
        while True:
            try:
                worked = worker.work(with_scheduler=True)
            except RedisError as exc:  # RQ's teardown after losing Redis
                log.warning("worker %s lost Redis while stopping: %s", worker.name, exc)
                worked = False
            if _asked_to_stop(worker):
                return worked
            # RQ quits when Redis goes away in the middle of a job; a worker must outlive that.
            log.error("worker %s stopped unexpectedly (Redis lost?); starting a new one in %g s",
                      worker.name, RESTART_DELAY_SECONDS)
            replacement = _replacement(queues, connection, worker)
            if replacement is None:
                return worked
            worker = replacement
    finally:
        sweeper.stop()


def _replacement(queues: list[Queue], connection: Redis, stopped: Worker) -> Worker | None:
    """A new RQ worker once Redis answers again (making one talks to Redis at once), every
    RESTART_DELAY_SECONDS; None when asked to stop meanwhile."""
    while True:
        try:
            time.sleep(RESTART_DELAY_SECONDS)
        except (StopRequested, RedisError):  # RQ's signal handler, still installed, on SIGTERM / Ctrl-C
            if _asked_to_stop(stopped):  # (it also tells Redis, which may be away)
                return None
            raise
        if _asked_to_stop(stopped):
            return None
        try:
            return Worker(queues, connection=connection, serializer=JSONSerializer)
        except RedisError as exc:
            log.warning("Redis still unreachable (%s); trying again in %g s", exc, RESTART_DELAY_SECONDS)


def _preload(settings: Settings) -> None:
    """Import the step bodies (OpenCV, numpy) and ask ffmpeg its version once, here: RQ forks a
    work horse per job, and each would otherwise pay for both again (~0.15 s a job)."""
    from server.settings import STEP_NAMES
    from workers.media.run import tool_version
    from workers.steps import body
    for step in STEP_NAMES:
        body(step)
    try:
        tool_version(settings.processing.ffmpeg)
    except (OSError, subprocess.SubprocessError) as exc:
        log.error("%s cannot be run (%s): media steps will fail until it can", settings.processing.ffmpeg, exc)


def _asked_to_stop(worker: Worker) -> bool:
    """SIGTERM or Ctrl-C reached RQ (it records when; there is no public accessor)."""
    return worker._shutdown_requested_date is not None
