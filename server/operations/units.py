"""The unit tree (city → district → squad) and the officers in it, as an administrator keeps them."""
from __future__ import annotations

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.operations import OpContext, Refused
from server.operations.versions import Outcome, check_code, code_field
from server.resources.fields import Text
from storage.case_models import Officer, Unit
from storage.db import utcnow


class UnitBody(ma.Schema):
    name = Text(required=True, validate=ma.validate.Length(1, 200))
    parent = code_field(load_default=None, allow_none=True,
                        metadata={"description": "Code of the unit above it; null for a root (e.g. the city)"})


class OfficerBody(ma.Schema):
    name = Text(required=True, validate=ma.validate.Length(1, 100))
    unit = code_field(required=True, metadata={"description": "Code of the officer's unit"})
    active = ma.fields.Boolean(load_default=True)


# --- the tree ------------------------------------------------------------------------------

def require_unit(session: Session, code: str, field: str = "unit") -> Unit:
    unit = session.get(Unit, code)
    if unit is None:
        raise Refused(422, "casework.unknown_unit", field, unit=code)
    return unit


def ancestors(session: Session, code: str) -> list[str]:
    """The unit's code and those above it, nearest first, up to its root."""
    chain = [code]
    parent = session.scalar(select(Unit.parent_code).where(Unit.code == code))
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = session.scalar(select(Unit.parent_code).where(Unit.code == parent))
    return chain


def subtree(session: Session, code: str) -> list[str]:
    """The unit's code and those of every unit below it."""
    found, frontier = [code], [code]
    while frontier:
        frontier = [child for child in session.scalars(select(Unit.code).where(Unit.parent_code.in_(frontier)))
                    if child not in found]
        found.extend(frontier)
    return found


def unit_view(unit: Unit) -> dict:
    return {"code": unit.code, "name": unit.name, "parent": unit.parent_code, "created_at": unit.created_at}


def put_unit(session: Session, ctx: OpContext, code: str, body: dict) -> Outcome:
    """Create the unit, or set its name and parent."""
    check_code(code, "code")
    parent = body["parent"]
    if parent is not None:
        require_unit(session, parent, "parent")
        if code in ancestors(session, parent):
            raise Refused(422, "casework.unit_cycle", "parent", unit=code, parent=parent)
    unit = session.get(Unit, code)
    if unit is None:
        unit = Unit(code=code, name=body["name"], parent_code=parent, created_at=utcnow())
        session.add(unit)
        session.flush()
        return Outcome(201, unit_view(unit))
    if (unit.name, unit.parent_code) == (body["name"], parent):
        return Outcome(200, unit_view(unit), replay=True)
    unit.name, unit.parent_code = body["name"], parent
    session.flush()
    return Outcome(200, unit_view(unit))


# --- officers ------------------------------------------------------------------------------

def require_officers(session: Session, codes: list[str], field: str = "officers") -> None:
    known = set(session.scalars(select(Officer.code).where(Officer.code.in_(codes)))) if codes else set()
    missing = [code for code in codes if code not in known]
    if missing:
        raise Refused(422, "casework.unknown_officers", field, officers=", ".join(missing))


def officer_view(officer: Officer) -> dict:
    return {"code": officer.code, "name": officer.name, "unit": officer.unit_code, "active": officer.active,
            "created_at": officer.created_at}


def put_officer(session: Session, ctx: OpContext, code: str, body: dict) -> Outcome:
    """Register the officer (by badge number), or set their name, unit and whether active."""
    check_code(code, "code")
    require_unit(session, body["unit"])
    officer = session.get(Officer, code)
    facts = (body["name"], body["unit"], body["active"])
    if officer is None:
        officer = Officer(code=code, name=body["name"], unit_code=body["unit"], active=body["active"],
                          created_at=utcnow())
        session.add(officer)
        session.flush()
        return Outcome(201, officer_view(officer))
    if (officer.name, officer.unit_code, officer.active) == facts:
        return Outcome(200, officer_view(officer), replay=True)
    officer.name, officer.unit_code, officer.active = facts
    session.flush()
    return Outcome(200, officer_view(officer))
