"""Periodic housekeeping run by every `fullrecord worker`: sign a custody checkpoint when one is
due, run the retention sweep when it is due, expire abandoned uploads, enqueue
outbox rows that could not be enqueued when they were written, hand out processing steps that
Redis lost or a dead worker dropped, keep the nightly audit scheduled, remove the workspaces of dead jobs on this host and what
interrupted writes left in the object store.
Safe to run on many hosts."""
from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import time
from datetime import timedelta

from sqlalchemy import select

from ingest import uploads
from storage import checkpoints
from storage.processing_models import Alert
from workers import exports, outbox, reconcile, retention
from workers.audit import schedule as audit_schedule
from workers.workspace import remove_abandoned

log = logging.getLogger(__name__)

STOP_SECONDS = 10


def sweep(rt, connection) -> dict:
    checkpoint = _checkpoint(rt)
    retention_sweep = retention.sweep_if_due(rt)
    expired = uploads.expire(rt)
    enqueued = outbox.dispatch(rt, connection)
    requeued = reconcile.reconcile(rt, connection)
    exports_requeued = exports.reconcile(rt, connection)
    audits_requeued = audit_schedule.reconcile(rt, connection)
    nightly = audit_schedule.ensure_nightly(rt, connection)
    workspaces = remove_abandoned(rt.settings.work_dir)
    temporaries = rt.store.remove_stale_temporaries(timedelta(hours=rt.settings.workers.stale_temp_hours))
    if expired or enqueued or requeued or exports_requeued or workspaces or temporaries:
        log.info("sweep: %d expired uploads removed, %d jobs enqueued, %d steps and %d exports handed out "
                 "again, %d dead workspaces and %d stale store temporaries removed",
                 expired, enqueued, requeued, exports_requeued, workspaces, temporaries)
    return {"expired_uploads": expired, "enqueued": enqueued, "requeued_steps": requeued,
            "removed_workspaces": workspaces, "removed_store_temporaries": temporaries,
            "requeued_exports": exports_requeued, "requeued_audits": audits_requeued, "nightly_audits": nightly,
            "checkpoint": checkpoint, "retention": retention_sweep.as_dict() if retention_sweep else None}


def _checkpoint(rt) -> int | None:
    """Sign a custody checkpoint when one is due; a log that is not intact is never signed: it
    raises a critical alert (once per problem) and the sweep goes on."""
    try:
        made = checkpoints.checkpoint_if_due(rt)
    except checkpoints.CheckpointRefused as refused:
        log.critical("custody log not intact, no checkpoint signed: %s", refused.problem.reason)
        details = {"reason": refused.problem.reason}
        with rt.session() as session, session.begin():
            open_ones = session.scalars(select(Alert.details).where(Alert.code == "custody_not_intact",
                                                                    Alert.acknowledged_at.is_(None))).all()
            if details not in open_ones:
                session.add(Alert(severity="critical", code="custody_not_intact", details=details))
        return None
    return made.count if made else None


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
