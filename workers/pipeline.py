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
from storage.models import Clip
from storage.processing_models import ProcessingStep
from workers.media.argv import review_plan
from workers.queues import queue
from workers.steps import DERIVE_STEPS, PROBE, REVIEW, VERIFY
from workers.steps.media_info import media_info

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
        media = session.get(Clip, clip_id).media if ready else {}
        for row in ready:
            mark_queued(rt.settings, row, media)
        handed = [(row.id, row.step, row.queue, job_id(row)) for row in ready]
    return enqueue(rt.settings, connection, handed)


def queue_name(settings, row: ProcessingStep, media: dict) -> str:
    """A review copy made by remuxing takes seconds: it goes with the short jobs."""
    queues = settings.processing.queues
    if row.step == REVIEW and media.get("kind"):
        profile = settings.processing.review_profiles.get(row.profile)
        if profile is not None and review_plan(media_info(media), profile) == "remux":
            return queues["remux"]
    return queues[row.step]


def mark_queued(settings, row: ProcessingStep, media: dict) -> None:
    row.status = "queued"
    row.generation += 1
    row.queue = queue_name(settings, row, media)
    row.job_id = job_id(row)
    row.enqueued_at = utcnow()


def enqueue(settings, connection, handed: list[tuple[str, str, str, str]]) -> int:
    """Enqueue committed (step id, step, queue, job id); returns how many reached Redis."""
    processing = settings.processing
    sent = 0
    for step_id, step, queue_name_, rq_id in handed:
        try:
            queue(queue_name_, connection).enqueue(
                JOB_FUNCTION, step_id, job_id=rq_id, job_timeout=processing.timeouts[step],
                retry=Retry(max=processing.retries, interval=processing.retry_backoff_seconds)
                if processing.retries else None,
                result_ttl=86400, failure_ttl=30 * 86400, description=f"{step} {rq_id}")
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable, step %s stays queued for the sweeper: %s", rq_id, exc)
            break
        sent += 1
    return sent
