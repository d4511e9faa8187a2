"""Finding processing work that Redis lost or a dead worker dropped, and handing it out again.

Run by every worker's sweep. A step is handed out again when
- it is running but its worker has not reported for stale_after_seconds (killed, host lost),
  or at once when that worker ran on this host and its process is gone;
- it is queued or retrying, was handed out stale_after_seconds ago, and its RQ job is gone or
  ended without the step finishing (Redis restarted, the job's retries ran out);
- it is pending although the steps it waits for are done (a crash between commit and enqueue);
and a received clip that never got its steps (its process_clip job was lost) is started.
Running a step twice does no harm (see workers/runner.py), so doubt resolves to re-enqueue.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import and_, exists, or_, select, update

from storage.db import utcnow
from storage.models import Clip
from storage.owners import owner_dead_here
from storage.processing_models import ProcessingStep
from workers import pipeline
from workers.queues import JSONSerializer

log = logging.getLogger(__name__)

BATCH = 500
LIVE_JOB_STATES = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def _job_alive(connection, job_id: str | None) -> bool:
    if not job_id:
        return False
    try:
        return Job.fetch(job_id, connection=connection, serializer=JSONSerializer).get_status() in LIVE_JOB_STATES
    except NoSuchJobError:
        return False


def reconcile(rt, connection) -> int:
    """Re-enqueue lost steps and start forgotten clips; returns how many steps were handed out."""
    cutoff = utcnow() - timedelta(seconds=rt.settings.processing.stale_after_seconds)
    with rt.session() as session:
        suspects = session.scalars(select(ProcessingStep).where(or_(
            and_(ProcessingStep.status == "running", ProcessingStep.heartbeat_at < cutoff),
            and_(ProcessingStep.status.in_(("queued", "retrying")), ProcessingStep.enqueued_at < cutoff),
        )).limit(BATCH)).all()
        lost = [row.id for row in suspects if row.status == "running" or not _job_alive(connection, row.job_id)]
        lost += session.scalars(select(ProcessingStep.id).where(  # a dead worker on this host: no need to wait
            ProcessingStep.status == "running", ProcessingStep.heartbeat_at >= cutoff)).all()
        forgotten = session.scalars(select(Clip.id).where(
            Clip.status == "received", Clip.received_at < cutoff,
            ~exists().where(ProcessingStep.clip_id == Clip.id)).limit(BATCH)).all()
        waiting = session.scalars(select(ProcessingStep.clip_id).where(
            ProcessingStep.status == "pending", ProcessingStep.created_at < cutoff).distinct().limit(BATCH)).all()
    handed = _requeue(rt, connection, lost, cutoff)
    for clip_id in forgotten:
        log.warning("clip %s was never started (its job was lost): starting it", clip_id)
        handed += pipeline.start(rt, connection, clip_id)
    for clip_id in waiting:
        handed += pipeline.advance(rt, connection, clip_id)
    return handed


def _requeue(rt, connection, step_ids: list[str], cutoff) -> int:
    if not step_ids:
        return 0
    handed = []
    with rt.session() as session, session.begin():
        for row in session.scalars(select(ProcessingStep).where(ProcessingStep.id.in_(step_ids))):
            still_lost = ((row.status == "running" and (row.heartbeat_at < cutoff or owner_dead_here(row.worker)))
                          or (row.status in ("queued", "retrying") and row.enqueued_at < cutoff))
            if not still_lost or not _unchanged(session, row):
                continue  # it moved on while we looked, or its worker is alive
            log.warning("step %s of clip %s was %s and its job is lost: enqueuing it again",
                        row.step, row.clip_id, row.status)
            pipeline.mark_queued(rt.settings, row, session.get(Clip, row.clip_id).media)
            handed.append((row.id, row.step, row.queue, row.job_id))
    return pipeline.enqueue(rt.settings, connection, handed)


def _unchanged(session, row: ProcessingStep) -> bool:
    """Whether the row is still as it was read, taking its write lock: its worker may have written
    its outcome (and exited, so that its pid looks dead) since. A conditional UPDATE, because
    SELECT ... FOR UPDATE is no lock on SQLite."""
    return session.execute(
        update(ProcessingStep)
        .where(ProcessingStep.id == row.id, ProcessingStep.status == row.status,
               ProcessingStep.generation == row.generation, ProcessingStep.worker == row.worker)
        .values(status=row.status).execution_options(synchronize_session=False)).rowcount == 1
