"""Audit jobs on RQ: runs started through the API, and the nightly audit, which RQ's scheduler
(every `fullrecord worker` runs one) starts at audit.nightly.at local time.

Every worker's sweep keeps the next night scheduled (one RQ job per night, by job id) and catches
up a night missed within the last day while no worker was up; the run's schedule_key makes sure
a night is audited once however many workers race. The AuditRun row is the truth of a run's
state: a queued run Redis lost, or a running one whose worker died, is handed out again."""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.audit_models import AuditRun
from storage.db import utcnow
from workers.audit import run as audit_run
from workers.queues import JSONSerializer, enqueue_or_defer, queue

log = logging.getLogger(__name__)

RUN_FUNCTION = "workers.jobs.run_audit"
NIGHTLY_FUNCTION = "workers.jobs.nightly_audit"
CATCH_UP = timedelta(hours=24)
STALE = timedelta(minutes=10)
"""A running audit writes its progress at least every few seconds; one silent this long lost its worker."""
LOST = timedelta(minutes=2)
"""A queued run with no RQ job this long after it was written was never handed to RQ."""


def job_id(run_id: str) -> str:
    return f"audit-{run_id}"


def nightly_job_id(night: date) -> str:
    return f"audit-nightly-{night.isoformat()}"


def schedule_key(night: date) -> str:
    return f"nightly:{night.isoformat()}"


def enqueue(settings, connection, run_id: str) -> bool:
    """Hand a committed queued run to RQ; False (reconcile retries) when Redis is away."""
    return enqueue_or_defer(connection, settings.audit.queue, RUN_FUNCTION, run_id, job_id=job_id(run_id),
                            timeout=settings.audit.timeout_seconds, what=f"audit {run_id}")


def nights(settings, now: datetime) -> tuple[tuple[date, datetime], tuple[date, datetime]]:
    """(local date, UTC start) of the latest nightly moment at or before now, and of the next."""
    zone = ZoneInfo(settings.timezone)
    hour, minute = (int(part) for part in settings.audit.nightly.at.split(":"))
    local = now.astimezone(zone)
    today = datetime.combine(local.date(), time(hour, minute), zone)
    latest = today if local >= today else datetime.combine(local.date() - timedelta(days=1), time(hour, minute), zone)
    upcoming = datetime.combine(latest.date() + timedelta(days=1), time(hour, minute), zone)
    return (latest.date(), latest.astimezone(timezone.utc)), (upcoming.date(), upcoming.astimezone(timezone.utc))


def ensure_nightly(rt, connection, now: datetime | None = None) -> list[str]:
    """Schedule the next night and catch up the last one if it was missed; returns job ids enqueued."""
    settings = rt.settings
    if not settings.audit.nightly.enabled:
        return []
    now = now or utcnow()
    (last_night, last_at), (next_night, next_at) = nights(settings, now)
    enqueued = []
    with rt.session() as session:
        done = set(session.scalars(select(AuditRun.schedule_key).where(
            AuditRun.schedule_key.in_((schedule_key(last_night), schedule_key(next_night))))))
    target = queue(settings.audit.queue, connection)
    for night, at in ((last_night, last_at), (next_night, next_at)):
        if schedule_key(night) in done or (at <= now and now - at > CATCH_UP):
            continue
        if _job_alive(connection, nightly_job_id(night)):
            continue
        kwargs = dict(job_id=nightly_job_id(night), job_timeout=settings.audit.timeout_seconds,
                      result_ttl=86400, failure_ttl=30 * 86400, description=f"nightly audit {night}")
        if at <= now:
            target.enqueue(NIGHTLY_FUNCTION, night.isoformat(), **kwargs)
        else:
            target.enqueue_at(at, NIGHTLY_FUNCTION, night.isoformat(), **kwargs)
        enqueued.append(nightly_job_id(night))
    return enqueued


def _job_alive(connection, job: str) -> bool:
    try:
        status = Job.fetch(job, connection=connection, serializer=JSONSerializer).get_status()
    except NoSuchJobError:
        return False
    return status not in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED, None)


def nightly_period(settings, night: date) -> tuple[date, date]:
    """The local dates a night's audit covers: the lookback_days before the night."""
    return night - timedelta(days=settings.audit.nightly.lookback_days), night - timedelta(days=1)


def run_nightly(rt, night: str) -> str:
    """Record and run the audit of one night (once, however many workers race for it)."""
    when = date.fromisoformat(night)
    period_from, period_to = nightly_period(rt.settings, when)
    try:
        with rt.session() as session, session.begin():
            run = audit_run.create_run(session, rt.settings, kind="nightly", requested_by="scheduler",
                                       period_from=period_from, period_to=period_to,
                                       schedule_key=schedule_key(when))
            run_id = run.id
    except IntegrityError:
        with rt.session() as session:
            existing = session.scalars(select(AuditRun).where(AuditRun.schedule_key == schedule_key(when))).one()
            if existing.status != "queued":
                return existing.status
            run_id = existing.id
    return audit_run.execute(rt, run_id).status


def reconcile(rt, connection, now: datetime | None = None) -> int:
    """Hand out again the runs RQ no longer holds: queued ones never enqueued, running ones whose
    worker died (no progress for STALE). Returns how many."""
    now = now or utcnow()
    with rt.session() as session:
        runs = session.execute(select(AuditRun.id, AuditRun.status).where(or_(
            (AuditRun.status == "queued") & (AuditRun.created_at < now - LOST),
            (AuditRun.status == "running") & (AuditRun.heartbeat_at < now - STALE)))).all()
    handed = 0
    for run_id, status in runs:
        if status == "queued" and _job_alive(connection, job_id(run_id)):
            continue
        if status == "running":
            with rt.session() as session, session.begin():
                moved = session.execute(update(AuditRun).where(AuditRun.id == run_id, AuditRun.status == "running",
                                                               AuditRun.heartbeat_at < now - STALE)
                                        .values(status="queued")).rowcount
            if not moved:
                continue
        if Job.exists(job_id(run_id), connection=connection):  # a finished or failed job of an earlier attempt
            Job.fetch(job_id(run_id), connection=connection, serializer=JSONSerializer).delete()
        if enqueue(rt.settings, connection, run_id):
            handed += 1
    return handed
