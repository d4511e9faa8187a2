"""Periodic housekeeping run by every `fullrecord worker`: expire abandoned uploads, enqueue
outbox rows that could not be enqueued when they were written, hand out processing steps that
Redis lost or a dead worker dropped, and remove the workspaces of dead jobs on this host.
Safe to run on many hosts."""
from __future__ import annotations

import logging
import threading

from ingest import uploads
from workers import outbox, reconcile
from workers.workspace import remove_abandoned

log = logging.getLogger(__name__)


def sweep(rt, connection) -> dict:
    expired = uploads.expire(rt)
    enqueued = outbox.dispatch(rt, connection)
    requeued = reconcile.reconcile(rt, connection)
    workspaces = remove_abandoned(rt.settings.work_dir)
    if expired or enqueued or requeued or workspaces:
        log.info("sweep: %d expired uploads removed, %d jobs enqueued, %d steps handed out again, "
                 "%d dead workspaces removed", expired, enqueued, requeued, workspaces)
    return {"expired_uploads": expired, "enqueued": enqueued, "requeued_steps": requeued,
            "removed_workspaces": workspaces}


class Sweeper(threading.Thread):
    def __init__(self, rt, connection, interval: float):
        super().__init__(daemon=True, name="fullrecord-sweeper")
        self.rt, self.connection, self.interval = rt, connection, interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                sweep(self.rt, self.connection)
            except Exception:  # a failed sweep is retried at the next interval, never fatal
                log.exception("sweep failed")

    def stop(self) -> None:
        self.stopping.set()
