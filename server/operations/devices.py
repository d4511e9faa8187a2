"""Operations on the recorder registry, its assignment history (sign-out 领用 / sign-in 归还, and
periods entered or corrected after the fact) and the stations' clock reports.

Each one runs inside the caller's transaction (workers.transaction.run, linking lock
taken) and re-links the clips that its change can affect, in the same transaction.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import marshmallow as ma
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.operations import OpContext, Refused
from server.operations.units import require_unit, subtree
from server.operations.versions import Instant, Outcome, check_code, code_field, fill_id
from server.resources.fields import Text
from storage.case_models import Officer
from storage.db import utcnow
from storage.device_models import ClockReport, DeviceAssignment
from storage.models import Device
from workers import linking

FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far past the server's clock a reported sign-out, sign-in or station time may lie."""
MAX_CLOCK_OFFSET = timedelta(days=366 * 50)
"""A recorder whose clock reset to its factory date is decades off; beyond this a report is a mistake."""
NO_LINKING = {"clips": 0, "added": 0, "removed": 0, "updated": 0, "retimed": 0}


class Body(ma.Schema):
    @ma.post_load
    def _in_utc(self, data, **_kwargs):
        """Times in UTC from here on, whatever offset the client wrote them with."""
        return {key: value.astimezone(timezone.utc) if isinstance(value, datetime) else value
                for key, value in data.items()}


class DeviceBody(ma.Schema):
    model = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=100))
    unit = code_field(load_default=None, allow_none=True, metadata={"description": "The unit the recorder belongs to"})


class SignOutBody(Body):
    id = ma.fields.UUID(required=True, metadata={"description": "Chosen by the client; a retry reuses it"})
    officer = code_field(required=True, metadata={"description": "Badge number"})
    at = Instant(load_default=None, metadata={"description": "When the officer took the recorder (default: now)"})


class SignInBody(Body):
    at = Instant(load_default=None, metadata={"description": "When the recorder came back (default: now)"})


class AssignmentBody(Body):
    id = ma.fields.UUID(required=True)
    officer = code_field(required=True)
    started_at = Instant(required=True)
    ended_at = Instant(load_default=None, allow_none=True, metadata={"description": "null: still signed out"})


class AssignmentPatch(Body):
    officer = code_field()
    started_at = Instant()
    ended_at = Instant(allow_none=True)

    @ma.validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("give at least one of officer, started_at, ended_at")


class ClockReportBody(Body):
    device_time = Instant(required=True, metadata={"description": "The recorder's clock when measured"})
    station_time = Instant(required=True, metadata={"description": "True time (the station's clock) at that moment"})


# --- lookups ---------------------------------------------------------------------------------

def unit_tree(session: Session, code: str) -> list[str]:
    """The unit and all its sub-units; an unknown unit is refused (422 on `unit`)."""
    require_unit(session, code)
    return subtree(session, code)


def device_or_404(session: Session, serial: str) -> Device:
    device = session.scalar(select(Device).where(Device.serial == serial))
    if device is None:
        raise Refused(404, "device.not_found", serial=serial)
    return device


def _officer(session: Session, code: str, *, active: bool = False) -> Officer:
    officer = session.get(Officer, code)
    if officer is None:
        raise Refused(422, "assignment.unknown_officer", "officer", officer=code)
    if active and not officer.active:
        raise Refused(422, "assignment.inactive_officer", "officer", officer=code)
    return officer


def _not_future(value: datetime | None, field: str) -> None:
    if value is not None and value > utcnow() + FUTURE_TOLERANCE:
        raise Refused(422, "device.time_in_future", field, time=value.isoformat())


def _open_assignment(session: Session, device_id: str) -> DeviceAssignment | None:
    return session.scalar(select(DeviceAssignment).where(DeviceAssignment.device_id == device_id,
                                                         DeviceAssignment.ended_at.is_(None)))


def _overlapping(session: Session, device_id: str, start: datetime, end: datetime | None,
                 exclude: str | None = None) -> DeviceAssignment | None:
    statement = select(DeviceAssignment).where(
        DeviceAssignment.device_id == device_id,
        or_(DeviceAssignment.ended_at.is_(None), DeviceAssignment.ended_at > start))
    if end is not None:
        statement = statement.where(DeviceAssignment.started_at < end)
    if exclude is not None:
        statement = statement.where(DeviceAssignment.id != exclude)
    return session.scalars(statement.order_by(DeviceAssignment.started_at).limit(1)).first()


def _refuse_overlap(other: DeviceAssignment, serial: str) -> None:
    raise Refused(409, "assignment.overlap", serial=serial, id=other.id, officer=other.officer_code,
                  start=other.started_at.isoformat(), end=other.ended_at.isoformat() if other.ended_at else "—")


# --- views -------------------------------------------------------------------------------------

def assignment_view(row: DeviceAssignment, serial: str, stats: dict | None = None) -> dict:
    view = {"id": row.id, "device": serial, "officer": row.officer_code, "started_at": row.started_at,
            "ended_at": row.ended_at, "recorded_by": row.recorded_by, "created_at": row.created_at,
            "updated_at": row.updated_at}
    if stats is not None:
        view["linking"] = stats
    return view


def clock_view(row: ClockReport, serial: str, stats: dict | None = None) -> dict:
    view = {"id": row.id, "device": serial, "device_time": row.device_time, "station_time": row.station_time,
            "offset_seconds": row.offset_seconds, "station_id": row.station_id, "recorded_by": row.recorded_by,
            "created_at": row.created_at}
    if stats is not None:
        view["linking"] = stats
    return view


def device_view(session: Session, device: Device, stats: dict | None = None) -> dict:
    current = _open_assignment(session, device.id)
    clock = session.scalars(select(ClockReport).where(ClockReport.device_id == device.id)
                            .order_by(ClockReport.device_time.desc()).limit(1)).first()
    view = {"id": device.id, "serial": device.serial, "model": device.model, "unit": device.unit_code,
            "created_at": device.created_at,
            "current_assignment": assignment_view(current, device.serial) if current else None,
            "latest_clock_report": clock_view(clock, device.serial) if clock else None}
    if stats is not None:
        view["linking"] = stats
    return view


# --- the registry ------------------------------------------------------------------------------

def register_device(session: Session, ctx: OpContext, serial: str, body: dict) -> Outcome:
    """Create or replace a recorder's registry entry (model and unit: an omitted one is cleared)."""
    check_code(serial, "serial")
    if body["unit"] is not None:
        require_unit(session, body["unit"])
    device = session.scalar(select(Device).where(Device.serial == serial))
    if device is None:
        device = Device(id=str(uuid.uuid4()), serial=serial, model=body["model"], unit_code=body["unit"],
                        created_at=utcnow())
        session.add(device)
        session.flush()
        stats = linking.on_device_registered(session, ctx.settings, device.id, serial, ctx.actor)
        return Outcome(201, device_view(session, session.get(Device, device.id), stats.as_dict()))
    if (device.model, device.unit_code) == (body["model"], body["unit"]):
        return Outcome(200, device_view(session, device), replay=True)
    device.model, device.unit_code = body["model"], body["unit"]
    session.flush()
    return Outcome(200, device_view(session, device))


# --- assignments -------------------------------------------------------------------------------

def _relink(session: Session, ctx: OpContext, device: Device, *spans) -> linking.LinkStats:
    return linking.on_assignment_changed(session, ctx.settings, device.id, spans, ctx.actor)


def _replay(session: Session, body: dict, device: Device, facts: dict) -> Outcome | None:
    """The answer to a retried create (same id, same facts), or None when the id is new."""
    row = session.get(DeviceAssignment, str(body["id"]))
    if row is None:
        return None
    stored = {"device": row.device_id, "officer": row.officer_code, "started_at": row.started_at,
              "ended_at": row.ended_at}
    if any(stored[key] != value for key, value in facts.items()):
        raise Refused(409, "assignment.id_reused", "id", id=row.id)
    return Outcome(200, assignment_view(row, device.serial, NO_LINKING), replay=True)


def _create(session: Session, ctx: OpContext, device: Device, body: dict, start: datetime,
            end: datetime | None) -> Outcome:
    row = DeviceAssignment(id=str(body["id"]), device_id=device.id, officer_code=body["officer"], started_at=start,
                           ended_at=end, recorded_by=ctx.label, created_at=utcnow(), updated_at=utcnow())
    session.add(row)
    session.flush()
    stats = _relink(session, ctx, device, (start, end))
    return Outcome(201, assignment_view(session.get(DeviceAssignment, row.id), device.serial, stats.as_dict()))


def sign_out(session: Session, ctx: OpContext, serial: str, body: dict) -> Outcome:
    """The officer takes the recorder (now, or at `at`)."""
    device = device_or_404(session, serial)
    facts = {"device": device.id, "officer": body["officer"]}
    if body["at"] is not None:
        facts["started_at"] = body["at"]
    replay = _replay(session, body, device, facts)
    if replay:
        return replay
    _officer(session, body["officer"], active=True)
    _not_future(body["at"], "at")
    current = _open_assignment(session, device.id)
    if current is not None:
        raise Refused(409, "assignment.already_out", serial=serial, officer=current.officer_code,
                      since=current.started_at.isoformat(), id=current.id)
    start = body["at"] or utcnow()
    other = _overlapping(session, device.id, start, None)
    if other is not None:
        _refuse_overlap(other, serial)
    return _create(session, ctx, device, body, start, None)


def sign_in(session: Session, ctx: OpContext, serial: str, body: dict) -> Outcome:
    """The recorder comes back (now, or at `at`): its open assignment ends."""
    device = device_or_404(session, serial)
    _not_future(body["at"], "at")
    current = _open_assignment(session, device.id)
    if current is None:
        last = session.scalars(select(DeviceAssignment).where(DeviceAssignment.device_id == device.id)
                               .order_by(DeviceAssignment.started_at.desc()).limit(1)).first()
        if last is not None and body["at"] is not None and last.ended_at == body["at"]:
            return Outcome(200, assignment_view(last, serial, NO_LINKING), replay=True)
        raise Refused(409, "assignment.not_out", serial=serial,
                      last=last.ended_at.isoformat() if last is not None else "—")
    end = body["at"] or utcnow()
    if end < current.started_at:
        raise Refused(422, "assignment.end_before_start", "at", end=end.isoformat(),
                      start=current.started_at.isoformat())
    current.ended_at, current.updated_at = end, utcnow()
    session.flush()
    stats = _relink(session, ctx, device, (current.started_at, None))
    return Outcome(200, assignment_view(session.get(DeviceAssignment, current.id), serial, stats.as_dict()))


def add_assignment(session: Session, ctx: OpContext, serial: str, body: dict) -> Outcome:
    """A period of the recorder's history entered after the fact."""
    device = device_or_404(session, serial)
    start, end = body["started_at"], body["ended_at"]
    replay = _replay(session, body, device, {"device": device.id, "officer": body["officer"],
                                             "started_at": start, "ended_at": end})
    if replay:
        return replay
    _officer(session, body["officer"])
    _check_period(start, end)
    other = _overlapping(session, device.id, start, end)
    if other is not None:
        _refuse_overlap(other, serial)
    return _create(session, ctx, device, body, start, end)


def _check_period(start: datetime, end: datetime | None) -> None:
    _not_future(start, "started_at")
    _not_future(end, "ended_at")
    if end is not None and end < start:
        raise Refused(422, "assignment.end_before_start", "ended_at", end=end.isoformat(), start=start.isoformat())


def correct_assignment(session: Session, ctx: OpContext, serial: str, assignment_id: str, body: dict) -> Outcome:
    """Correct a period (officer, start, end; ended_at null reopens it)."""
    device = device_or_404(session, serial)
    row = session.get(DeviceAssignment, assignment_id)
    if row is None or row.device_id != device.id:
        raise Refused(404, "assignment.not_found", serial=serial, id=assignment_id)
    old = (row.officer_code, row.started_at, row.ended_at)
    new = (body.get("officer", old[0]), body.get("started_at", old[1]), body.get("ended_at", old[2]))
    if new == old:
        return Outcome(200, assignment_view(row, serial, NO_LINKING), replay=True)
    if new[0] != old[0]:
        _officer(session, new[0])
    _check_period(new[1], new[2])
    other = _overlapping(session, device.id, new[1], new[2], exclude=row.id)
    if other is not None:
        _refuse_overlap(other, serial)
    row.officer_code, row.started_at, row.ended_at, row.updated_at = *new, utcnow()
    session.flush()
    stats = _relink(session, ctx, device, old[1:], new[1:])
    return Outcome(200, assignment_view(session.get(DeviceAssignment, assignment_id), serial, stats.as_dict()))


# --- clock reports -----------------------------------------------------------------------------

def add_clock_report(session: Session, ctx: OpContext, serial: str, body: dict) -> Outcome:
    """A station measured the recorder's clock: re-time (and re-link) the clips it now corrects."""
    device = device_or_404(session, serial)
    _not_future(body["station_time"], "station_time")
    existing = session.scalar(select(ClockReport).where(ClockReport.device_id == device.id,
                                                        ClockReport.device_time == body["device_time"]))
    if existing is not None:
        if existing.station_time != body["station_time"]:
            raise Refused(409, "clock.conflict", "station_time", serial=serial, id=existing.id,
                          device_time=existing.device_time.isoformat(),
                          station_time=existing.station_time.isoformat())
        return Outcome(200, clock_view(existing, serial, NO_LINKING), replay=True)
    offset = body["device_time"] - body["station_time"]
    if abs(offset) > MAX_CLOCK_OFFSET:
        raise Refused(422, "clock.implausible", "device_time", days=abs(offset).days,
                      limit=MAX_CLOCK_OFFSET.days)
    report = ClockReport(id=str(uuid.uuid4()), device_id=device.id, device_time=body["device_time"],
                         station_time=body["station_time"], offset_seconds=offset.total_seconds(),
                         station_id=ctx.principal.id if ctx.principal.kind == "station" else None,
                         recorded_by=ctx.label, created_at=utcnow())
    session.add(report)
    session.flush()
    stats = linking.on_clock_report(session, ctx.settings, report, ctx.actor)
    return Outcome(201, clock_view(session.get(ClockReport, report.id), serial, stats.as_dict()))


# --- batch sync --------------------------------------------------------------------------------

class SyncSignOut(SignOutBody):
    device = code_field(required=True, metadata={"description": "Serial"})


class SyncSignIn(SignInBody):
    device = code_field(required=True, metadata={"description": "Serial"})


def _sync(schema: ma.Schema, operation):
    def run(session: Session, ctx: OpContext, item: dict) -> tuple[int, dict]:
        raw = dict(item.get("body") or {})
        body = schema.load(fill_id(raw, item) if "id" in schema.fields else raw)
        outcome = operation(session, ctx, body.pop("device"), body)
        return outcome.status, {**outcome.answer, "replay": outcome.replay}
    return run


SYNC_OPERATIONS = {"sign_out": _sync(SyncSignOut(), sign_out), "sign_in": _sync(SyncSignIn(), sign_in)}
