"""Run an audit and store it: an AuditRun row (scope, rules, custody state, progress, summary,
difference from the previous run of the same scope) and a finding for every step that fails or
draws a warning and for every step fixed since then. Steps are read and judged a page at a time
and findings written a page at a time, so memory stays bounded however large the scope.

Also the live audit of one case (every step, passing ones included) for the API."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable

from sqlalchemy import delete, insert, select, update

from storage.audit_models import AuditFinding, AuditRun
from storage.case_models import Unit
from storage.db import utcnow
from workers.audit import custody_state as custody
from workers.audit.aggregate import Aggregates
from workers.audit.evaluate import Rule, StepResult, evaluate_step, rules_from_settings
from workers.audit import parallel
from workers.audit.source import Scope, count_steps, slice_keys, step_pages

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 1.0
"""Least time between two progress writes to the run's row."""
PARALLEL_MIN_STEPS = 50_000
"""Steps per process below which starting more processes costs more than it saves."""


class AuditRefused(ValueError):
    """A run that cannot start (already running or finished)."""


def create_run(session, settings, *, kind: str, requested_by: str, period_from: date, period_to: date,
               unit_code: str | None = None, officer_code: str | None = None, case_id: str | None = None,
               schedule_key: str | None = None) -> AuditRun:
    run = AuditRun(kind=kind, requested_by=requested_by, period_from=period_from, period_to=period_to,
                   timezone=settings.timezone, unit_code=unit_code, officer_code=officer_code, case_id=case_id,
                   schedule_key=schedule_key, status="queued", progress=0.0, steps_done=0,
                   rules={}, custody={}, summary={}, diff={})
    session.add(run)
    session.flush()
    return run


def scope_of(run: AuditRun) -> Scope:
    return Scope(run.period_from, run.period_to, run.timezone, run.unit_code, run.officer_code, run.case_id)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def previous_run(session, run: AuditRun) -> AuditRun | None:
    """The last finished run of the same unit, officer and case filters (any period)."""
    return session.scalars(
        select(AuditRun).where(AuditRun.status == "done", AuditRun.id != run.id,
                               AuditRun.unit_code.is_(None) if run.unit_code is None else AuditRun.unit_code == run.unit_code,
                               AuditRun.officer_code.is_(None) if run.officer_code is None
                               else AuditRun.officer_code == run.officer_code,
                               AuditRun.case_id.is_(None) if run.case_id is None else AuditRun.case_id == run.case_id,
                               AuditRun.finished_at <= (run.started_at or utcnow()))
        .order_by(AuditRun.finished_at.desc()).limit(1)).first()


class _Before:
    """How a step stood in the previous run: its stored status if it failed or drew a warning
    there, 'pass' if that run covered it otherwise, None if that run did not cover it."""

    def __init__(self, session, previous: AuditRun | None):
        self.previous = previous is not None
        self.statuses: dict[str, str] = {}
        if previous is None:
            return
        self.statuses = dict(session.execute(select(AuditFinding.step_id, AuditFinding.status)
                                             .where(AuditFinding.run_id == previous.id,
                                                    AuditFinding.status.in_(("fail", "warning")))).all())
        low, high = scope_of(previous).utc_bounds()
        self.low = _epoch(low) if low else float("-inf")
        self.high = _epoch(high) if high else float("inf")
        self.started = _epoch(previous.started_at)

    def status(self, step_id: str, start: float, created: float) -> str | None:
        if not self.previous:
            return None
        if step_id in self.statuses:
            return self.statuses[step_id]
        return "pass" if self.low <= start < self.high and created <= self.started else None


def change_of(now: str, before: str | None) -> str | None:
    if now == "fail":
        return "new" if before is None else "still_failing" if before == "fail" else "newly_failing"
    return "fixed" if before == "fail" else None


def execute(rt, run_id: str, on_progress: Callable[[int, int], None] | None = None) -> AuditRun:
    """Judge every step in the run's scope and store the results; returns the finished run.
    Anything unexpected marks the run failed (with the error) and is raised again."""
    settings = rt.settings
    with rt.session() as session, session.begin():
        run = session.get(AuditRun, run_id, with_for_update=True)
        if run is None or run.status != "queued":  # running: another worker has it
            raise AuditRefused(f"audit {run_id} is {run.status if run else 'missing'}")
        session.execute(delete(AuditFinding).where(AuditFinding.run_id == run_id))  # a retried run starts over
        run.status, run.started_at, run.heartbeat_at = "running", utcnow(), utcnow()
        run.steps_done, run.progress, run.error = 0, 0.0, None
    try:
        return _execute(rt, run_id, settings, on_progress)
    except Exception as exc:
        log.exception("audit %s failed", run_id)
        with rt.session() as session, session.begin():
            session.execute(update(AuditRun).where(AuditRun.id == run_id).values(
                status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=utcnow()))
        raise


@dataclass
class Judging:
    """Everything judging a range of steps needs (picklable: parallel.py hands it to processes)."""
    run_id: str
    scope: Scope
    rules: dict
    required: set
    broken_clips: set
    before: _Before
    now: float


def judge_range(factory, settings, job: Judging, report: Callable[[int], None],
                after: tuple | None = None, until: tuple | None = None) -> Aggregates:
    """Judge the steps from key `after` (exclusive) to `until` (inclusive), write their findings a
    page at a time, call report(steps) after each page; return the tallies."""
    totals = Aggregates(job.scope.timezone)
    with factory() as reader:
        for page in step_pages(reader, job.scope, job.required, job.broken_clips, after=after, until=until):
            findings = []
            for row in page:
                result = evaluate_step(row.facts, row.clips, rule_for(job.rules, settings, row.facts.type), job.now)
                change = change_of(result.status, job.before.status(row.facts.id, row.facts.start, row.created_at))
                totals.add(result, change)
                if result.status in ("fail", "warning") or change == "fixed":
                    findings.append(_finding(job.run_id, result, change))
            if findings:
                with factory() as writer, writer.begin():
                    writer.execute(insert(AuditFinding), findings)
            report(len(page))
    return totals


def _execute(rt, run_id: str, settings, on_progress) -> AuditRun:
    rules = rules_from_settings(settings)
    required = footage_types(rules)
    with rt.session() as session:
        run = session.get(AuditRun, run_id)
        scope = scope_of(run)
        state = custody.custody_state(session)
        previous = previous_run(session, run)
        job = Judging(run_id, scope, rules, required, state.broken_clips, _Before(session, previous), time.time())
        total = count_steps(session, scope)
        parents = dict(session.execute(select(Unit.code, Unit.parent_code)).all())
        processes = min(settings.audit.processes, max(1, total // PARALLEL_MIN_STEPS))
        keys = slice_keys(session, scope, total, processes) if processes > 1 else []
    with rt.session() as session, session.begin():
        session.execute(update(AuditRun).where(AuditRun.id == run_id).values(
            rules={code: rule.as_dict() for code, rule in rules.items()}, custody=state.as_dict(),
            steps_total=total, previous_run_id=previous.id if previous else None))
    progress = _Progress(rt, run_id, total, on_progress)
    if keys:
        totals = parallel.judge_in_processes(settings, job, keys, progress.add)
    else:
        totals = judge_range(rt.session, settings, job, progress.add)
    diff = {"previous_run_id": previous.id if previous else None,
            "previous_finished_at": previous.finished_at.isoformat() if previous else None,
            **{key: totals.changes.get(key, 0) for key in ("newly_failing", "still_failing", "new", "fixed")}}
    with rt.session() as session, session.begin():
        session.execute(update(AuditRun).where(AuditRun.id == run_id).values(
            status="done", progress=1.0, steps_done=totals.steps, steps_total=totals.steps,
            summary=totals.as_dict(parents), diff=diff, finished_at=utcnow(), heartbeat_at=utcnow()))
        return session.get(AuditRun, run_id)


class _Progress:
    """Steps judged so far: written to the run's row (at most every PROGRESS_SECONDS) and shown."""

    def __init__(self, rt, run_id: str, total: int, on_progress):
        self.rt, self.run_id, self.total, self.on_progress = rt, run_id, total, on_progress
        self.done, self.written = 0, 0.0

    def add(self, steps: int) -> None:
        self.done += steps
        if time.monotonic() - self.written >= PROGRESS_SECONDS or self.done >= self.total:
            with self.rt.session() as session, session.begin():
                session.execute(update(AuditRun).where(AuditRun.id == self.run_id).values(
                    steps_done=self.done, progress=min(1.0, self.done / self.total) if self.total else 1.0,
                    heartbeat_at=utcnow()))
            self.written = time.monotonic()
        if self.on_progress:
            self.on_progress(self.done, self.total)


def footage_types(rules: dict[str, Rule]) -> set[str]:
    """The step types whose clips must be read: those that need footage."""
    return {code for code, rule in rules.items() if rule.requirement in ("recorded", "continuous")}


def rule_for(rules: dict[str, Rule], settings, step_type: str) -> Rule:
    """The type's rule; a type config.yaml no longer lists gets the 'unknown' rule (the step fails, saying so)."""
    return rules.get(step_type) or Rule.for_type(settings, step_type)


def _finding(run_id: str, result: StepResult, change: str | None) -> dict:
    step = result.step
    return {"run_id": run_id, "step_id": step.id, "case_id": step.case_id, "case_number": step.case_number,
            "unit_code": step.unit_code, "step_type": step.type,
            "started_at": datetime.fromtimestamp(step.start, timezone.utc), "status": result.status,
            "change": change, "result": result.as_dict()}


def audit_case(session, settings, case_id: str, now: float | None = None) -> list[StepResult]:
    """Every step of one case judged now (passing and not-required ones included), in start order."""
    rules = rules_from_settings(settings)
    required = footage_types(rules)
    state = custody.custody_state(session)
    now = time.time() if now is None else now
    results = []
    for page in step_pages(session, Scope(None, None, settings.timezone, case_id=case_id), required,
                           state.broken_clips):
        for row in page:
            results.append(evaluate_step(row.facts, row.clips, rule_for(rules, settings, row.facts.type), now))
    return results
