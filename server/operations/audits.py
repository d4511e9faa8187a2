"""Starting an audit, for the API and the CLI alike: check the scope (dates in order, a period
of at most MAX_DAYS, unit, officer and case known) and record the run."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.operations import Refused
from storage.audit_models import AuditRun
from storage.case_models import Case, Officer, Unit
from workers.audit.run import create_run

MAX_DAYS = 3660


def find_case(session: Session, case: str) -> Case:
    """A case by its id, or by its number when only one agency uses that number."""
    found = session.get(Case, case)
    if found is not None:
        return found
    cases = session.scalars(select(Case).where(Case.case_number == case).order_by(Case.agency_code)).all()
    if not cases:
        raise Refused(422, "audit.unknown_case", "case", case=case)
    if len(cases) > 1:
        raise Refused(422, "audit.ambiguous_case", "case", case=case,
                      agencies=", ".join(c.agency_code for c in cases))
    return cases[0]


def start_run(session: Session, settings, *, kind: str, requested_by: str, period_from: date, period_to: date,
              unit: str | None = None, officer: str | None = None, case: str | None = None) -> AuditRun:
    if period_from > period_to:
        raise Refused(422, "audit.period_order", "from", start=period_from.isoformat(), end=period_to.isoformat())
    if (period_to - period_from).days + 1 > MAX_DAYS:
        raise Refused(422, "audit.period_too_long", "to", days=MAX_DAYS)
    if unit is not None and session.get(Unit, unit) is None:
        raise Refused(422, "audit.unknown_unit", "unit", code=unit)
    if officer is not None and session.get(Officer, officer) is None:
        raise Refused(422, "audit.unknown_officer", "officer", code=officer)
    case_id = find_case(session, case).id if case is not None else None
    return create_run(session, settings, kind=kind, requested_by=requested_by, period_from=period_from,
                      period_to=period_to, unit_code=unit, officer_code=officer, case_id=case_id)
