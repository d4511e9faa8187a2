"""Which processing steps a clip has, and handing the ready ones to RQ.

The database rows are the truth; Redis only carries the work. A step is marked queued and
committed first, then enqueued (never the other way round); a step whose job was lost
(Redis down or restarted) is found and enqueued again by the sweeper (workers/reconcile.py).
"""
from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy import select

from storage.db import utcnow
from storage.processing_models import ProcessingStep
from workers.queues import queue
from workers.steps import DERIVE_STEPS, PROBE, VERIFY

log = logging.getLogger(__name__)

JOB_FUNCTION = "workers.jobs.run_step"


def job_id(row: ProcessingStep) -> str:
    """Deterministic: the same step handed to RQ the same time has the same id."""
    profile = f"-{row.profile}" if row.profile else ""
    return f"{row.step}{profile}-{row.clip_id}-g{row.generation}"


def ensure_rows(session, clip_id: str, steps: list[tuple[str, str]]) -> list[ProcessingStep]:
    """Create the missing step rows of a clip (pending); existing rows are left alone."""
    existing = {(row.step, row.profile) for row in
                session.scalars(select(ProcessingStep).where(ProcessingStep.clip_id == clip_id))}
    created = []
    for step, profile in steps:
        if (step, profile) not in existing:
            row = ProcessingStep(clip_id=clip_id, step=step, profile=profile, status="pending",
                                 progress=0.0, attempts=0, generation=0, command=[], result={})
            session.add(row)
            created.append(row)
    session.flush()
    return created


def start(rt, connection, clip_id: str) -> int:
    """Begin processing a received clip (idempotent); returns how many steps were enqueued."""
    with rt.session() as session, session.begin():
        ensure_rows(session, clip_id, [(VERIFY, ""), (PROBE, "")])
    return advance(rt, connection, clip_id)


def _ready(rows: list[ProcessingStep]) -> list[ProcessingStep]:
    done = {row.step for row in rows if row.status == "done"}
    ready = []
    for row in rows:
        if row.status != "pending":
            continue
        if row.step == VERIFY or (row.step == PROBE and VERIFY in done) or (row.step in DERIVE_STEPS and PROBE in done):
            ready.append(row)
    return ready


def advance(rt, connection, clip_id: str) -> int:
    """Mark the clip's ready steps queued, commit, then enqueue them."""
    with rt.session() as session, session.begin():
        rows = session.scalars(select(ProcessingStep).where(ProcessingStep.clip_id == clip_id)).all()
        ready = _ready(rows)
        for row in ready:
            mark_queued(rt.settings, row)
        handed = [(row.id, row.step, job_id(row)) for row in ready]
    return enqueue(rt.settings, connection, handed)


def mark_queued(settings, row: ProcessingStep) -> None:
    row.status = "queued"
    row.generation += 1
    row.queue = settings.processing.queues[row.step]
    row.job_id = job_id(row)
    row.enqueued_at = utcnow()


def enqueue(settings, connection, handed: list[tuple[str, str, str]]) -> int:
    """Enqueue committed (step id, step, job id) triples; returns how many reached Redis."""
    processing = settings.processing
    sent = 0
    for step_id, step, rq_id in handed:
        try:
            queue(processing.queues[step], connection).enqueue(
                JOB_FUNCTION, step_id, job_id=rq_id, job_timeout=processing.timeouts[step],
                retry=Retry(max=processing.retries, interval=processing.retry_backoff_seconds)
                if processing.retries else None,
                result_ttl=86400, failure_ttl=30 * 86400, description=f"{step} {rq_id}")
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable, step %s stays queued for the sweeper: %s", rq_id, exc)
            break
        sent += 1
    return sent
