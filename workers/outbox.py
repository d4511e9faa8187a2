"""Enqueue what the outbox holds. Rows are written in the same transaction as the change that
needs the job, so nothing is lost while Redis is down: whatever could not be enqueued at once
is enqueued by the next sweep."""
from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy import select, update

from storage.db import utcnow
from storage.ingest_models import OutboxEntry
from workers.queues import queue

log = logging.getLogger(__name__)

BATCH = 500
"""Outbox rows handled per sweep."""

REGISTRY: dict[str, tuple[str, str]] = {
    "process_clip": ("workers.jobs.process_clip", "short"),
}
"""Outbox job name -> (dotted function path, queue name)."""


def dispatch(rt, connection, ids: list[str] | None = None) -> int:
    """Enqueue pending rows (all, or these ids); returns how many were enqueued."""
    with rt.session() as session:
        query = select(OutboxEntry).where(OutboxEntry.enqueued_at.is_(None)).order_by(OutboxEntry.created_at)
        if ids is not None:
            query = query.where(OutboxEntry.id.in_(ids))
        pending = session.scalars(query.limit(BATCH)).all()
    enqueued = 0
    for entry in pending:
        if entry.job not in REGISTRY:
            continue  # a job that no worker knows yet stays pending, not lost
        if not _claim(rt, entry.id):
            continue  # another sweeper took it
        function, queue_name = REGISTRY[entry.job]
        try:
            queue(queue_name, connection).enqueue(function, *entry.args, job_id=f"{entry.job}-{entry.id}")
        except (RedisError, OSError) as exc:
            _unclaim(rt, entry.id)
            log.warning("outbox: Redis unavailable, %s stays pending: %s", entry.id, exc)
            break
        enqueued += 1
    return enqueued


def _claim(rt, entry_id: str) -> bool:
    with rt.session() as session, session.begin():
        return session.execute(update(OutboxEntry).where(OutboxEntry.id == entry_id,
                                                         OutboxEntry.enqueued_at.is_(None))
                               .values(enqueued_at=utcnow())).rowcount == 1


def _unclaim(rt, entry_id: str) -> None:
    with rt.session() as session, session.begin():
        session.execute(update(OutboxEntry).where(OutboxEntry.id == entry_id).values(enqueued_at=None))
