"""The cases search: filters as SQL, a page of cases with what a row shows (unit, officers,
steps, clips), and each case's audit status as the latest city-wide audit run judged it.

Audit status of a case (from the most recent finished run without a unit, officer or case filter):
fail if the run stored a failing finding for one of its steps, warning if it stored a warning,
pass if the run's period covered one of its steps (created before the run began) and found
nothing wrong, otherwise "not audited" (no such run, or its period missed the case)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from server.operations.units import subtree
from storage.audit_models import AuditFinding, AuditRun
from storage.case_models import Case, CaseOfficer, Officer, Step, StepOfficer, Unit
from storage.link_models import ClipLink
from workers.audit.run import scope_of

AUDIT_STATUSES = ("fail", "warning", "pass", "not_audited")
INDENT = "\u3000"  # an ideographic space: indents a unit below its parent in the select


@dataclass
class Basis:
    """The audit run statuses come from, and what it covered."""
    run: AuditRun | None
    low: datetime | None = None
    high: datetime | None = None

    @classmethod
    def latest(cls, session: Session) -> "Basis":
        run = session.scalars(select(AuditRun).where(
            AuditRun.status == "done", AuditRun.unit_code.is_(None), AuditRun.officer_code.is_(None),
            AuditRun.case_id.is_(None)).order_by(AuditRun.finished_at.desc(), AuditRun.id).limit(1)).first()
        if run is None:
            return cls(None)
        low, high = scope_of(run).utc_bounds()
        return cls(run, low, high)

    def _finding(self, status: str):
        return exists().where(AuditFinding.run_id == self.run.id, AuditFinding.case_id == Case.id,
                              AuditFinding.status == status)

    def _covered(self):
        return exists().where(Step.case_id == Case.id, Step.started_at >= self.low, Step.started_at < self.high,
                              Step.created_at <= self.run.started_at)

    def condition(self, status: str):
        """SQL: the case has this audit status."""
        if self.run is None:
            return true() if status == "not_audited" else false()
        fail, warning, covered = self._finding("fail"), self._finding("warning"), self._covered()
        return {"fail": fail, "warning": and_(not_(fail), warning),
                "pass": and_(not_(fail), not_(warning), covered),
                "not_audited": and_(not_(fail), not_(warning), not_(covered))}[status]

    def statuses(self, session: Session, case_ids: list[str]) -> dict[str, str]:
        """The audit status of each of these cases."""
        if self.run is None or not case_ids:
            return dict.fromkeys(case_ids, "not_audited")
        found: dict[str, set[str]] = {}
        for case_id, status in session.execute(
                select(AuditFinding.case_id, AuditFinding.status).distinct()
                .where(AuditFinding.run_id == self.run.id, AuditFinding.case_id.in_(case_ids),
                       AuditFinding.status.in_(("fail", "warning")))):
            found.setdefault(case_id, set()).add(status)
        covered = set(session.scalars(select(Step.case_id).distinct().where(
            Step.case_id.in_(case_ids), Step.started_at >= self.low, Step.started_at < self.high,
            Step.created_at <= self.run.started_at)))
        out = {}
        for case_id in case_ids:
            statuses = found.get(case_id, set())
            out[case_id] = ("fail" if "fail" in statuses else "warning" if "warning" in statuses
                            else "pass" if case_id in covered else "not_audited")
        return out


def local_bounds(zone: ZoneInfo, first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC bounds of the local dates first 00:00 .. last 24:00."""
    low = datetime.combine(first, time(), zone) if first else None
    high = datetime.combine(last + timedelta(days=1), time(), zone) if last else None
    return low, high


def conditions(session: Session, query: dict, zone: ZoneInfo, basis: Basis) -> list:
    where = []
    if query.get("case_number"):
        where.append(Case.case_number.contains(query["case_number"], autoescape=True))
    if query.get("unit"):
        where.append(Case.unit_code.in_(subtree(session, query["unit"])))
    if query.get("officer"):  # the badge number, or part of the name
        wanted = query["officer"]
        codes = select(Officer.code).where(or_(Officer.code == wanted, Officer.name.contains(wanted, autoescape=True)))
        where.append(or_(exists().where(CaseOfficer.case_id == Case.id, CaseOfficer.officer_code.in_(codes)),
                         exists().where(Step.case_id == Case.id, StepOfficer.step_id == Step.id,
                                        StepOfficer.officer_code.in_(codes))))
    if query.get("status"):
        where.append(Case.status == query["status"])
    low, high = local_bounds(zone, query.get("date_from"), query.get("date_to"))
    if low or high:
        step_when = [Step.case_id == Case.id]
        opened = [Case.opened_at.is_not(None)]
        if low:
            step_when.append(Step.started_at >= low)
            opened.append(Case.opened_at >= low)
        if high:
            step_when.append(Step.started_at < high)
            opened.append(Case.opened_at < high)
        where.append(or_(exists().where(*step_when), and_(*opened)))
    if query.get("audit"):
        where.append(basis.condition(query["audit"]))
    return where


def search(session: Session, query: dict, zone: ZoneInfo, limit: int) -> dict:
    """A page of matching cases, newest first (opened, else registered), with the row facts."""
    basis = Basis.latest(session)
    where = conditions(session, query, zone, basis)
    total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
    newest = func.coalesce(Case.opened_at, Case.created_at)
    cases = session.scalars(select(Case).where(*where).order_by(newest.desc(), Case.id.desc())
                            .limit(limit).offset(query["offset"])).all()
    return {"rows": rows(session, cases, basis), "basis": basis,
            "page": {"offset": query["offset"], "limit": limit, "total": total}}


def rows(session: Session, cases: list[Case], basis: Basis) -> list[dict]:
    ids = [case.id for case in cases]
    if not ids:
        return []
    steps = dict(session.execute(select(Step.case_id, func.count()).where(Step.case_id.in_(ids))
                                 .group_by(Step.case_id)).all())
    clips = dict(session.execute(select(ClipLink.case_id, func.count(ClipLink.clip_id.distinct()))
                                 .where(ClipLink.case_id.in_(ids), ClipLink.state == "linked")
                                 .group_by(ClipLink.case_id)).all())
    officers: dict[str, list[tuple[str, str]]] = {}
    for case_id, code, name in session.execute(
            select(CaseOfficer.case_id, CaseOfficer.officer_code, Officer.name)
            .join(Officer, Officer.code == CaseOfficer.officer_code)
            .where(CaseOfficer.case_id.in_(ids)).order_by(CaseOfficer.officer_code)):
        officers.setdefault(case_id, []).append((code, name))
    units = dict(session.execute(select(Unit.code, Unit.name).where(
        Unit.code.in_({case.unit_code for case in cases}))).all())
    statuses = basis.statuses(session, ids)
    return [{"id": case.id, "case_number": case.case_number, "title": case.title, "status": case.status,
             "unit_code": case.unit_code, "unit_name": units.get(case.unit_code, case.unit_code),
             "opened_at": case.opened_at or case.created_at, "officers": officers.get(case.id, []),
             "steps": steps.get(case.id, 0), "clips": clips.get(case.id, 0), "audit": statuses[case.id]}
            for case in cases]


def unit_choices(session: Session) -> list[tuple[str, str]]:
    """Every unit as (code, label), in tree order, each label indented by its depth."""
    units = session.execute(select(Unit.code, Unit.name, Unit.parent_code).order_by(Unit.code)).all()
    children: dict[str | None, list] = {}
    codes = {unit.code for unit in units}
    for unit in units:
        parent = unit.parent_code if unit.parent_code in codes else None
        children.setdefault(parent, []).append(unit)
    out, stack = [], [(unit, 0) for unit in reversed(children.get(None, []))]
    while stack:
        unit, depth = stack.pop()
        out.append((unit.code, f"{INDENT * depth}{unit.name} ({unit.code})"))
        stack.extend((child, depth + 1) for child in reversed(children.get(unit.code, [])))
    return out
