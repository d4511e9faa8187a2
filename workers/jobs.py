"""The RQ jobs: plain functions that take ids. Which queue each runs on is configuration
(processing.queues); the database rows are the truth of their state."""
from __future__ import annotations

from rq import get_current_job


def _connection():
    job = get_current_job()
    if job is not None:
        return job.connection
    from workers.context import runtime
    return runtime().redis()


def process_clip(clip_id: str) -> int:
    """A received clip: create its first steps and enqueue them (idempotent)."""
    from workers import pipeline
    from workers.context import runtime
    return pipeline.start(runtime(), _connection(), clip_id)


def run_step(step_id: str) -> str:
    """One processing step of one clip (verify, probe, review, thumbnails, obstruction)."""
    from workers.runner import execute
    return execute(step_id, _connection())


def export_bundle(export_id: str) -> str:
    """Build a case's evidence bundle and store it (workers/exports.py)."""
    from workers import exports
    from workers.context import runtime
    return exports.run(runtime(), export_id)


def run_audit(run_id: str) -> str:
    """A completeness audit started through the API (workers/audit/run.py); a run another worker
    already has, or that has finished, is left alone."""
    from workers.audit import run
    from workers.context import runtime
    try:
        return run.execute(runtime(), run_id).status
    except run.AuditRefused as refused:
        return str(refused)


def nightly_audit(night: str) -> str:
    """The nightly audit of `night` (a local date, YYYY-MM-DD), scheduled by workers/audit/schedule.py."""
    from workers.audit import schedule
    from workers.context import runtime
    return schedule.run_nightly(runtime(), night)
