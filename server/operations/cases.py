"""Cases as the case platform and the officers' apps report them: created once under a
client-chosen id, numbered uniquely within their agency, updated against the version last read."""
from __future__ import annotations

from datetime import datetime

import marshmallow as ma
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.i18n import t
from server.operations import OpContext, Refused
from server.operations.units import ancestors, require_officers, require_unit, subtree
from server.operations.versions import (Instant, Outcome, code_field, code_list, digest, fill_id,
                                        is_create_replay, is_update_replay, normalise, remember_update, sync_target)
from server.resources.fields import Text
from storage.case_models import CASE_STATUSES, Case, CaseOfficer
from storage.db import utcnow
from storage.link_models import ClipLink
from workers import linking

WHAT = "casework.what_case"
COLUMNS = {"case_number": "case_number", "unit": "unit_code", "title": "title", "status": "status",
           "opened_at": "opened_at", "closed_at": "closed_at"}
"""Update fields (besides officers) and the columns they set."""


def _number(**kwargs) -> Text:
    return Text(validate=ma.validate.Length(1, 64), metadata={"description": "案件编号, unique per agency"}, **kwargs)


def _unit(**kwargs) -> Text:
    return code_field(metadata={"description": "Code of the unit handling the case"}, **kwargs)


class CaseBody(ma.Schema):
    id = ma.fields.UUID(required=True, metadata={"description": "Chosen by the client; a retry reuses it"})
    case_number = _number(required=True)
    unit = _unit(required=True)
    agency = code_field(load_default=None, allow_none=True, metadata={
        "description": "Unit whose case numbering applies: the unit or one above it (default: the tree's root)"})
    title = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))
    status = Text(load_default="open", validate=ma.validate.OneOf(CASE_STATUSES))
    officers = code_list("Badge numbers of the officers handling the case")
    opened_at = Instant(load_default=None, allow_none=True)
    closed_at = Instant(load_default=None, allow_none=True,
                        metadata={"description": "Only for a closed case (default: when it was closed)"})

    @ma.post_load
    def _normalise(self, data, **_kwargs):
        return normalise(data, "id")


class CasePatch(ma.Schema):
    case_number = _number()
    unit = _unit()
    title = Text(allow_none=True, validate=ma.validate.Length(max=200))
    status = Text(validate=ma.validate.OneOf(CASE_STATUSES))
    officers = ma.fields.List(code_field(), validate=ma.validate.Length(max=200))
    opened_at = Instant(allow_none=True)
    closed_at = Instant(allow_none=True)

    @ma.validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError(t("casework.nothing_to_change", fields=", ".join(COLUMNS)))

    @ma.post_load
    def _normalise(self, data, **_kwargs):
        return normalise(data)


class CaseQuery(ma.Schema):
    case_number = Text(validate=ma.validate.Length(1, 64))
    unit = code_field(metadata={"description": "This unit and the units below it"})
    officer = code_field(metadata={"description": "Cases this officer handles"})
    status = Text(validate=ma.validate.OneOf(CASE_STATUSES))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0))


def case_view(case: Case) -> dict:
    return {"id": case.id, "case_number": case.case_number, "agency": case.agency_code, "unit": case.unit_code,
            "title": case.title, "status": case.status, "officers": sorted(row.officer_code for row in case.officers),
            "opened_at": case.opened_at, "closed_at": case.closed_at, "version": case.version,
            "created_by": case.created_by, "created_at": case.created_at, "updated_at": case.updated_at}


def get_case(session: Session, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise Refused(404, "casework.case_not_found", id=case_id)
    return case


def _number_free(session: Session, agency: str, number: str) -> None:
    other = session.scalar(select(Case.id).where(Case.agency_code == agency, Case.case_number == number))
    if other is not None:
        raise Refused(409, "casework.case_number_taken", "case_number", number=number, agency=agency, id=other)


def _closing(status: str, opened_at: datetime | None, closed_at: datetime | None, now: datetime):
    """closed_at as it will be stored: set (default now) for a closed case, None for an open one."""
    if status == "open":
        if closed_at is not None:
            raise Refused(422, "casework.closed_at_needs_closed", "closed_at")
        return None
    closed_at = closed_at or now
    if opened_at is not None and closed_at < opened_at:
        raise Refused(422, "casework.closed_before_opened", "closed_at", closed=closed_at.isoformat(),
                      opened=opened_at.isoformat())
    return closed_at


def create_case(session: Session, ctx: OpContext, body: dict) -> Outcome:
    existing = session.get(Case, body["id"])
    body_digest = digest(body)
    if is_create_replay(existing, WHAT, body_digest):
        return Outcome(200, case_view(existing), replay=True)
    require_unit(session, body["unit"])
    chain = ancestors(session, body["unit"])
    agency = body["agency"] or chain[-1]
    if agency not in chain:
        raise Refused(422, "casework.bad_agency", "agency", agency=agency, unit=body["unit"], allowed=", ".join(chain))
    require_officers(session, body["officers"])
    now = utcnow()
    closed_at = _closing(body["status"], body["opened_at"], body["closed_at"], now)
    _number_free(session, agency, body["case_number"])
    case = Case(id=body["id"], case_number=body["case_number"], agency_code=agency, unit_code=body["unit"],
                title=body["title"], status=body["status"], opened_at=body["opened_at"], closed_at=closed_at,
                version=1, create_digest=body_digest, created_by=ctx.label, created_at=now, updated_at=now,
                officers=[CaseOfficer(officer_code=code) for code in body["officers"]])
    session.add(case)
    session.flush()
    return Outcome(201, case_view(case))


def update_case(session: Session, ctx: OpContext, case_id: str, version: int, body: dict) -> Outcome:
    case = get_case(session, case_id)
    body_digest = digest(body)
    if is_update_replay(case, WHAT, version, body_digest):
        return Outcome(200, case_view(case), replay=True)
    current = {key: getattr(case, column) for key, column in COLUMNS.items()}
    new = {key: body.get(key, value) for key, value in current.items() if key != "closed_at"}
    old_officers = sorted(row.officer_code for row in case.officers)
    officers = body.get("officers", old_officers)
    if new["unit"] != case.unit_code:
        require_unit(session, new["unit"])
        if case.agency_code not in ancestors(session, new["unit"]):
            raise Refused(422, "casework.unit_outside_agency", "unit", unit=new["unit"], agency=case.agency_code)
    require_officers(session, officers)
    keep_closed = case.closed_at if new["status"] == "closed" else None
    new["closed_at"] = _closing(new["status"], new["opened_at"], body.get("closed_at", keep_closed), utcnow())
    if new["case_number"] != case.case_number:
        _number_free(session, case.agency_code, new["case_number"])
    if new == current and officers == old_officers:
        return Outcome(200, case_view(case))  # nothing changes: nothing written, same version
    for key, column in COLUMNS.items():
        setattr(case, column, new[key])
    case.officers = [row for row in case.officers if row.officer_code in officers] + [
        CaseOfficer(officer_code=code) for code in officers if code not in old_officers]
    remember_update(case, case.version, body_digest)
    case.version += 1
    case.updated_at = utcnow()
    session.flush()
    if (new["status"], new["closed_at"]) != (current["status"], current["closed_at"]):
        evidence = session.scalars(select(ClipLink.clip_id).where(ClipLink.case_id == case.id,
                                                                 ClipLink.state == "linked"))
        linking.note_changed(session, set(evidence), ctx.actor)  # their retention follows the case
    return Outcome(200, case_view(case))


def list_cases(session: Session, query: dict) -> tuple[list[dict], int]:
    """Cases matching the filters, oldest first, and how many match in all."""
    statement = select(Case)
    if "case_number" in query:
        statement = statement.where(Case.case_number == query["case_number"])
    if "unit" in query:
        require_unit(session, query["unit"])
        statement = statement.where(Case.unit_code.in_(subtree(session, query["unit"])))
    if "officer" in query:
        statement = statement.where(Case.id.in_(select(CaseOfficer.case_id)
                                                .where(CaseOfficer.officer_code == query["officer"])))
    if "status" in query:
        statement = statement.where(Case.status == query["status"])
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = session.scalars(statement.order_by(Case.created_at, Case.id).limit(query["limit"])
                           .offset(query["offset"])).all()
    return [case_view(case) for case in rows], total


# --- batch sync ----------------------------------------------------------------------------

def sync_create(session: Session, ctx: OpContext, item: dict) -> tuple[int, dict]:
    outcome = create_case(session, ctx, CaseBody().load(fill_id(item.get("body") or {}, item)))
    return outcome.status, {**outcome.answer, "replay": outcome.replay}


def sync_update(session: Session, ctx: OpContext, item: dict) -> tuple[int, dict]:
    case_id, version = sync_target(item, "update_case")
    outcome = update_case(session, ctx, case_id, version, CasePatch().load(item.get("body") or {}))
    return outcome.status, {**outcome.answer, "replay": outcome.replay}
