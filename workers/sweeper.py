"""Periodic housekeeping run by every `fullrecord worker`: expire abandoned uploads, enqueue
outbox rows that could not be enqueued when they were written, hand out processing steps that
Redis lost or a dead worker dropped, remove the workspaces of dead jobs on this host and what
interrupted writes left in the object store.
Safe to run on many hosts."""
from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import time
from datetime import timedelta

from ingest import uploads
from workers import outbox, reconcile
from workers.workspace import remove_abandoned

log = logging.getLogger(__name__)

STOP_SECONDS = 10


def sweep(rt, connection) -> dict:
    expired = uploads.expire(rt)
    enqueued = outbox.dispatch(rt, connection)
    requeued = reconcile.reconcile(rt, connection)
    workspaces = remove_abandoned(rt.settings.work_dir)
    temporaries = rt.store.remove_stale_temporaries(timedelta(hours=rt.settings.workers.stale_temp_hours))
    if expired or enqueued or requeued or workspaces or temporaries:
        log.info("sweep: %d expired uploads removed, %d jobs enqueued, %d steps handed out again, "
                 "%d dead workspaces and %d stale store temporaries removed",
                 expired, enqueued, requeued, workspaces, temporaries)
    return {"expired_uploads": expired, "enqueued": enqueued, "requeued_steps": requeued,
            "removed_workspaces": workspaces, "removed_store_temporaries": temporaries}


class SweeperProcess:
    """Sweeps every `interval` seconds in a process of its own. Not a thread: RQ forks a work
    horse for every job, and a fork taken while a sweeper thread holds a lock (the database
    pool's, a socket's) would leave that horse deadlocked."""

    def __init__(self, settings, interval: float):
        self.settings, self.interval = settings, interval
        self.process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        context = multiprocessing.get_context("fork")  # before RQ starts, while this process has one thread
        self.process = context.Process(target=_sweep_forever, args=(self.settings, self.interval),
                                       name="fullrecord-sweeper", daemon=True)
        self.process.start()

    def stop(self) -> None:
        if self.process is None or not self.process.is_alive():
            return
        self.process.terminate()
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_SECONDS)


def _sweep_forever(settings, interval: float) -> None:
    from server.runtime import Runtime
    from server.stack import die_with_parent
    from workers.queues import redis_connection

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the worker, which stops us
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rt, connection = Runtime(settings), redis_connection(settings)
    while True:
        try:
            sweep(rt, connection)
        except Exception:  # a failed sweep is retried at the next interval, never fatal
            log.exception("sweep failed")
        time.sleep(interval)
