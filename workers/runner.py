"""Running one processing step so that a crash, a retry or a duplicate job does no harm.

claim: the row moves to running only from queued/retrying, or from a running row whose
worker stopped reporting; done/skipped/failed rows are never run again. While the body works,
a heartbeat thread reports progress. The outcome (derivatives, custody events, new status) is
written in one transaction, and only if this worker still owns the row; objects it uploaded
for a lost claim are deleted again. Then the next ready steps are enqueued.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError

from storage.custody import append_event, lost_append_race
from storage.db import utcnow
from storage.exceptions import StoreUnavailable
from storage.models import Clip, Derivative
from storage.owners import host_name, new_owner
from storage.processing_models import FINAL_STATUSES, Alert, ObstructedInterval, ProcessingStep
from workers import linking, pipeline, store_retention
from workers.steps import Outcome, body
from workers.steps.context import StepContext
from workers.steps.failures import final_failure, integrity_failure
from workers.workspace import OriginalChanged

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 8
"""Tries at writing an outcome when other writers extend the custody chain at the same time."""
ERROR_TAIL_LINES = 20


@dataclass(frozen=True)
class Claimed:
    id: str
    clip_id: str
    step: str
    profile: str
    attempts: int


def claim(rt, step_id: str, owner: str) -> Claimed | None:
    now = utcnow()
    stale = now - timedelta(seconds=rt.settings.processing.stale_after_seconds)
    with rt.session() as session, session.begin():
        taken = session.execute(
            update(ProcessingStep)
            .where(ProcessingStep.id == step_id,
                   or_(ProcessingStep.status.in_(("queued", "retrying")),
                       (ProcessingStep.status == "running") & (ProcessingStep.heartbeat_at < stale)))
            .values(status="running", attempts=ProcessingStep.attempts + 1, worker=owner, started_at=now,
                    heartbeat_at=now, progress=0.0, error=None, command=[], finished_at=None)).rowcount
        if taken != 1:
            return None
        row = session.get(ProcessingStep, step_id)
        return Claimed(row.id, row.clip_id, row.step, row.profile, row.attempts)


class Heartbeat(threading.Thread):
    """Reports progress and liveness; notices when the row was taken over by someone else."""

    def __init__(self, rt, step_id: str, owner: str, context: StepContext):
        super().__init__(daemon=True, name="fullrecord-heartbeat")
        self.rt, self.step_id, self.owner, self.context = rt, step_id, owner, context
        self.interval = max(0.5, min(10.0, rt.settings.processing.stale_after_seconds / 4))
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                with self.rt.session() as session, session.begin():
                    alive = session.execute(
                        update(ProcessingStep)
                        .where(ProcessingStep.id == self.step_id, ProcessingStep.worker == self.owner,
                               ProcessingStep.status == "running")
                        .values(heartbeat_at=utcnow(), progress=self.context.progress_value)).rowcount
                if not alive:
                    self.context.lost = True
                    log.warning("step %s was taken over by another worker", self.step_id)
                    return
            except Exception:  # a missed beat is retried; the sweeper tolerates several
                log.exception("heartbeat of step %s failed", self.step_id)

    def stop(self) -> None:
        self.stopping.set()


def execute(step_id: str, connection) -> str:
    """Run a step if it still needs running; returns what happened, for RQ's job result."""
    from workers.context import runtime
    rt = runtime()
    owner = new_owner()
    claimed = claim(rt, step_id, owner)
    if claimed is None:
        return "skipped: already done, or running elsewhere"
    with rt.session() as session:
        clip = session.get(Clip, claimed.clip_id)
    context = StepContext(rt, claimed, clip)
    heartbeat = Heartbeat(rt, step_id, owner, context)
    heartbeat.start()
    started = time.monotonic()
    retries = rt.settings.processing.retries
    try:
        if claimed.attempts > retries + 1:
            outcome = final_failure(claimed, f"gave up after {claimed.attempts - 1} attempts")
        else:
            outcome = body(claimed.step)(context)
    except OriginalChanged as exc:
        outcome = integrity_failure(str(exc), {"step": claimed.step})
    except Exception as exc:
        heartbeat.stop()
        context.discard_uploads()
        waiting = _store_unavailable(exc)
        final = claimed.attempts >= retries + 1 and not waiting
        tail = _error_tail(exc)
        if not final:
            _record_retry(rt, claimed, owner, context, tail, time.monotonic() - started, refund=waiting)
            context.close()
            raise
        outcome = final_failure(claimed, tail, exc)
    finally:
        heartbeat.stop()
    try:
        written = _write(rt, claimed, owner, outcome, context, time.monotonic() - started)
    finally:
        context.close()
    if not written:
        context.discard_uploads()
        return "lost: another worker took this step over"
    pipeline.advance(rt, connection, claimed.clip_id)
    return outcome.status


def _error_tail(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception(exc)).strip().splitlines()
    detail = getattr(exc, "stderr_tail", "") or ""
    return "\n".join(lines[-ERROR_TAIL_LINES:] + ([detail] if detail else []))


def _store_unavailable(exc: BaseException) -> bool:
    """The object store could not be reached: the file is not at fault, so the attempt is not
    counted and the step waits (RQ's retries, then the sweeper) for the store to come back."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StoreUnavailable):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _record_retry(rt, claimed: Claimed, owner: str, context: StepContext, tail: str, seconds: float,
                  refund: bool = False) -> None:
    attempts = ProcessingStep.attempts - 1 if refund else ProcessingStep.attempts
    with rt.session() as session, session.begin():
        session.execute(update(ProcessingStep)
                        .where(ProcessingStep.id == claimed.id, ProcessingStep.worker == owner)
                        .values(status="retrying", error=tail, command=context.commands, attempts=attempts,
                                finished_at=utcnow(), seconds=seconds, progress=context.progress_value))
    log.warning("step %s of clip %s failed (attempt %d), RQ will retry: %s",
                claimed.step, claimed.clip_id, claimed.attempts, tail.splitlines()[-1] if tail else "")


def _write(rt, claimed: Claimed, owner: str, outcome: Outcome, context: StepContext,
           seconds: float) -> bool:
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            with rt.session() as session, session.begin():
                if outcome.clip_media is not None:
                    linking.take_lock(session)  # before any row lock: the order every linking writer keeps
                row = session.get(ProcessingStep, claimed.id, with_for_update=True)
                if row.worker != owner or row.status != "running":
                    return False
                _apply(session, row, outcome, context, seconds)
            return True
        except DBAPIError as error:  # another writer extended the custody chain first
            if not lost_append_race(error) or attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return False


def _apply(session, row: ProcessingStep, outcome: Outcome, context: StepContext, seconds: float) -> None:
    clip = session.get(Clip, row.clip_id, with_for_update=True)
    actor = {"actor_type": "worker", "actor_id": host_name(), "clip_id": clip.id}
    row.status, row.result, row.error = outcome.status, outcome.result, outcome.error
    row.command, row.finished_at, row.seconds = context.commands, utcnow(), seconds
    row.progress = 1.0 if outcome.status == "done" else context.progress_value
    if outcome.clip_status:
        clip.status = outcome.clip_status
    if outcome.clip_media is not None:
        clip.media = outcome.clip_media
        clip.media_kind = outcome.clip_media.get("kind")
        clip.duration_seconds = outcome.clip_duration
        session.flush()
        linking.relink_clips(session, context.settings, [clip.id], linking.Actor("worker", host_name()))
        store_retention.apply_noted(session, context.rt)
    if outcome.clip_flags:
        clip.flags = {**clip.flags, **outcome.clip_flags}
    for new in outcome.derivatives:
        derivative = Derivative(clip_id=clip.id, kind=new.kind, profile=new.profile, object_key=new.object_key,
                                sha256=new.sha256, sm3=new.sm3, size=new.size, source_sha256=clip.sha256,
                                tool_version=new.tool_version, argv=new.argv, content_type=new.content_type,
                                checks=new.checks)
        session.add(derivative)
        session.flush()
        append_event(session, action="derived", details={
            "derivative_id": derivative.id, "kind": new.kind, "profile": new.profile,
            "object_key": new.object_key, "sha256": new.sha256, "sm3": new.sm3, "size": new.size,
            "source_sha256": clip.sha256, "tool_version": new.tool_version, "argv": new.argv,
            "checks": new.checks}, **actor)
    if outcome.derivatives and clip.held:  # new files of held evidence are held too
        store_retention.apply(session, context.rt.store, [clip.id], linking.Actor("worker", host_name()),
                              rules=context.settings.retention, reassert=True)
    for action, details in outcome.events:
        append_event(session, action=action, details=details, **actor)
    for interval in outcome.obstructions:
        session.add(ObstructedInterval(clip_id=clip.id, **interval))
    for severity, code, details in outcome.alerts:
        session.add(Alert(severity=severity, code=code, clip_id=clip.id, details=details))
        log.error("ALERT %s %s clip %s: %s", severity, code, clip.id, details)
    pipeline.ensure_rows(session, clip.id, outcome.next_steps)
    others = session.scalars(select(ProcessingStep).where(ProcessingStep.clip_id == clip.id)).all()
    if outcome.stop_processing:
        for other in others:
            if other.id != row.id and other.status not in FINAL_STATUSES + ("running",):
                other.status, other.error, other.finished_at = "skipped", outcome.stop_processing, utcnow()
    if clip.status == "verified" and all(other.status in ("done", "skipped") for other in others):
        clip.status = "processed"
