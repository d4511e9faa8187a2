"""Enforcement steps of a case: what happened, when, where and who (and which recorders) were
there. Every change re-links the clips it can affect, in the same transaction."""
from __future__ import annotations

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.i18n import t
from server.operations import OpContext, Refused
from server.operations.units import require_officers
from server.operations.versions import (NO_LINKING, Instant, Outcome, code_field, code_list, digest, fill_id,
                                        is_create_replay, is_update_replay, normalise, remember_update, sync_target)
from server.resources.fields import Text
from storage.case_models import Case, Step, StepDevice, StepOfficer
from storage.db import utcnow
from storage.link_models import ClipLink
from storage.models import Device
from workers import linking

WHAT = "casework.what_step"
FIELDS = ("type", "started_at", "ended_at", "place", "officers", "devices", "notes")
LINK_INPUTS = ("type", "started_at", "ended_at", "officers", "devices")
"""What linking depends on: a change to place or notes re-links nothing."""


def _type(**kwargs) -> Text:
    return Text(validate=ma.validate.Length(1, 64), metadata={"description": "A step type code from config.yaml"},
                **kwargs)


def _devices(**kwargs) -> ma.fields.List:
    return ma.fields.List(Text(validate=ma.validate.Length(1, 64)), validate=ma.validate.Length(max=100),
                          metadata={"description": "Serials of the recorders present"}, **kwargs)


def _in_order(data: dict) -> None:
    if data.get("started_at") and data.get("ended_at") and data["ended_at"] < data["started_at"]:
        raise ma.ValidationError(t("casework.end_before_start", end=data["ended_at"].isoformat(),
                                   start=data["started_at"].isoformat()), "ended_at")


class StepBody(ma.Schema):
    id = ma.fields.UUID(required=True, metadata={"description": "Chosen by the client; a retry reuses it"})
    case_id = ma.fields.UUID(required=True)
    type = _type(required=True)
    started_at = Instant(required=True)
    ended_at = Instant(required=True)
    place = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))
    officers = code_list("Badge numbers of the officers present")
    devices = _devices(load_default=list)
    notes = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=10000))

    @ma.validates_schema
    def _order(self, data, **_kwargs):
        _in_order(data)

    @ma.post_load
    def _normalise(self, data, **_kwargs):
        return normalise(data, "id", "case_id")


class StepPatch(ma.Schema):
    case_id = ma.fields.UUID(metadata={"description": "Only the step's own case: a step cannot move"})
    type = _type()
    started_at = Instant()
    ended_at = Instant()
    place = Text(allow_none=True, validate=ma.validate.Length(max=200))
    officers = ma.fields.List(code_field(), validate=ma.validate.Length(max=200))
    devices = _devices()
    notes = Text(allow_none=True, validate=ma.validate.Length(max=10000))

    @ma.validates_schema
    def _checks(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError(t("casework.nothing_to_change", fields=", ".join(FIELDS)))
        _in_order(data)

    @ma.post_load
    def _normalise(self, data, **_kwargs):
        return normalise(data, "case_id")


# --- views ---------------------------------------------------------------------------------

def link_view(link: ClipLink) -> dict:
    return {"id": link.id, "clip_id": link.clip_id, "origin": link.origin, "state": link.state, "rule": link.rule,
            "overlap_seconds": link.overlap_seconds, "details": link.details, "reason": link.reason,
            "decided_by": link.decided_by}


def step_views(session: Session, steps: list[Step]) -> list[dict]:
    """Steps with their officers, devices and links (read in one query for all of them)."""
    links: dict[str, list[ClipLink]] = {step.id: [] for step in steps}
    if steps:
        for link in session.scalars(select(ClipLink).where(ClipLink.step_id.in_(links))
                                    .order_by(ClipLink.created_at, ClipLink.clip_id)):
            links[link.step_id].append(link)
    return [{"id": step.id, "case_id": step.case_id, "type": step.type, "started_at": step.started_at,
             "ended_at": step.ended_at, "place": step.place, "notes": step.notes,
             "officers": sorted(row.officer_code for row in step.officers),
             "devices": sorted(row.device_serial for row in step.devices), "version": step.version,
             "created_by": step.created_by, "created_at": step.created_at, "updated_at": step.updated_at,
             "links": [link_view(link) for link in links[step.id]]} for step in steps]


def step_view(session: Session, step: Step, linking_stats: dict | None = None) -> dict:
    view = step_views(session, [step])[0]
    if linking_stats is not None:
        view["linking"] = {key: linking_stats[key] for key in NO_LINKING}
    return view


def get_step(session: Session, step_id: str) -> Step:
    step = session.get(Step, step_id)
    if step is None:
        raise Refused(404, "casework.step_not_found", id=step_id)
    return step


def case_steps(session: Session, case_id: str) -> list[dict]:
    if session.get(Case, case_id) is None:
        raise Refused(404, "casework.case_not_found", id=case_id)
    steps = session.scalars(select(Step).where(Step.case_id == case_id).order_by(Step.started_at, Step.id)).all()
    return step_views(session, list(steps))


# --- checks --------------------------------------------------------------------------------

def _check_type(ctx: OpContext, code: str) -> None:
    if code not in ctx.settings.step_types:
        raise Refused(422, "casework.unknown_step_type", "type", type=code, valid=", ".join(ctx.settings.step_types))


def _check_devices(session: Session, serials: list[str]) -> None:
    known = set(session.scalars(select(Device.serial).where(Device.serial.in_(serials)))) if serials else set()
    missing = [serial for serial in serials if serial not in known]
    if missing:
        raise Refused(422, "casework.unknown_devices", "devices", serials=", ".join(missing))


def _relink(session: Session, ctx: OpContext, step_id: str) -> dict:
    """Re-link what the step's new state (flushed here) and its old links can affect."""
    session.flush()
    stats = linking.on_step_changed(session, ctx.settings, step_id, ctx.actor)
    return stats.as_dict()


# --- operations ----------------------------------------------------------------------------

def create_step(session: Session, ctx: OpContext, body: dict) -> Outcome:
    existing = session.get(Step, body["id"])
    body_digest = digest(body)
    if is_create_replay(existing, WHAT, body_digest):
        return Outcome(200, step_view(session, existing, NO_LINKING), replay=True)
    _check_type(ctx, body["type"])
    if session.get(Case, body["case_id"]) is None:
        raise Refused(422, "casework.unknown_case", "case_id", id=body["case_id"])
    require_officers(session, body["officers"])
    _check_devices(session, body["devices"])
    now = utcnow()
    step = Step(id=body["id"], case_id=body["case_id"], type=body["type"], started_at=body["started_at"],
                ended_at=body["ended_at"], place=body["place"], notes=body["notes"], version=1,
                create_digest=body_digest, created_by=ctx.label, created_at=now, updated_at=now,
                officers=[StepOfficer(officer_code=code) for code in body["officers"]],
                devices=[StepDevice(device_serial=serial) for serial in body["devices"]])
    session.add(step)
    stats = _relink(session, ctx, step.id)
    return Outcome(201, step_view(session, get_step(session, body["id"]), stats))


def update_step(session: Session, ctx: OpContext, step_id: str, version: int, body: dict) -> Outcome:
    step = get_step(session, step_id)
    body_digest = digest(body)
    if is_update_replay(step, WHAT, version, body_digest):
        return Outcome(200, step_view(session, step, NO_LINKING), replay=True)
    if body.get("case_id", step.case_id) != step.case_id:
        raise Refused(422, "casework.case_id_fixed", "case_id", case=step.case_id, new=body["case_id"])
    current = {"type": step.type, "started_at": step.started_at, "ended_at": step.ended_at, "place": step.place,
               "notes": step.notes, "officers": sorted(row.officer_code for row in step.officers),
               "devices": sorted(row.device_serial for row in step.devices)}
    new = {key: body.get(key, value) for key, value in current.items()}
    if new["type"] != current["type"]:
        _check_type(ctx, new["type"])
    if new["ended_at"] < new["started_at"]:
        field = "ended_at" if "ended_at" in body else "started_at"
        raise Refused(422, "casework.end_before_start", field, end=new["ended_at"].isoformat(),
                      start=new["started_at"].isoformat())
    require_officers(session, [code for code in new["officers"] if code not in current["officers"]])
    _check_devices(session, [serial for serial in new["devices"] if serial not in current["devices"]])
    if new == current:
        return Outcome(200, step_view(session, step, NO_LINKING))  # nothing changes: nothing written
    step.type, step.started_at, step.ended_at = new["type"], new["started_at"], new["ended_at"]
    step.place, step.notes = new["place"], new["notes"]
    step.officers = [row for row in step.officers if row.officer_code in new["officers"]] + [
        StepOfficer(officer_code=code) for code in new["officers"] if code not in current["officers"]]
    step.devices = [row for row in step.devices if row.device_serial in new["devices"]] + [
        StepDevice(device_serial=serial) for serial in new["devices"] if serial not in current["devices"]]
    remember_update(step, step.version, body_digest)
    step.version += 1
    step.updated_at = utcnow()
    session.flush()
    stats = NO_LINKING
    if any(new[key] != current[key] for key in LINK_INPUTS):
        stats = _relink(session, ctx, step_id)
    return Outcome(200, step_view(session, get_step(session, step_id), stats))


# --- batch sync ----------------------------------------------------------------------------

def sync_create(session: Session, ctx: OpContext, item: dict) -> tuple[int, dict]:
    outcome = create_step(session, ctx, StepBody().load(fill_id(item.get("body") or {}, item)))
    return outcome.status, {**outcome.answer, "replay": outcome.replay}


def sync_update(session: Session, ctx: OpContext, item: dict) -> tuple[int, dict]:
    step_id, version = sync_target(item, "update_step")
    outcome = update_step(session, ctx, step_id, version, StepPatch().load(item.get("body") or {}))
    return outcome.status, {**outcome.answer, "replay": outcome.replay}
