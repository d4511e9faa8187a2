"""Work queues for follow-up: clips still linked to no step some time after they arrived, and
steps whose type needs footage but that have none after the upload deadline. Each entry says
why it is listed."""
from __future__ import annotations

from datetime import timedelta

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import selectinload

from server.auth import roles
from server.i18n import request_language, t
from server.operations import Refused
from server.operations.devices import unit_tree
from server.operations.versions import Instant
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.case_models import Case, Step
from storage.db import utcnow
from storage.device_models import DeviceAssignment
from storage.link_models import ClipLink
from storage.models import Clip

blp = Blueprint("queues", __name__, url_prefix="/queues",
                description="Work queues: unlinked clips, steps without footage")

READERS = ("admin", "legal", "inspector")


class PageQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 10**9))


class UnlinkedQuery(PageQuery):
    older_than_hours = ma.fields.Float(load_default=None, validate=ma.validate.Range(0, 24 * 366 * 100),
                                       metadata={"description": "Default: linking.unlinked_after_hours in config.yaml"})
    station = ma.fields.UUID(load_default=None, metadata={"description": "Station id"})
    device = Text(load_default=None, metadata={"description": "Recorder serial"})


class StepsQuery(PageQuery):
    unit = Text(load_default=None, metadata={"description": "The case's unit: this unit and its sub-units"})
    type = Text(load_default=None, metadata={"description": "A step type code from config.yaml"})


class UnlinkedClipSchema(ma.Schema):
    id = Text()
    filename = Text()
    device_serial = Text(allow_none=True)
    device_registered = ma.fields.Boolean()
    officer_id = Text(allow_none=True)
    station_id = Text(allow_none=True)
    recorded_at = Instant(metadata={"description": "Raw, by the recorder's clock"})
    corrected_start = Instant(allow_none=True)
    corrected_end = Instant(allow_none=True)
    received_at = Instant()
    waiting_hours = ma.fields.Float()
    why = Text(metadata={"description": "excluded, device_unregistered, no_officer or no_step"})
    message = Text(metadata={"description": "What to check, in the reader's language"})


class StepWithoutFootageSchema(ma.Schema):
    id = Text()
    case_id = Text()
    case_number = Text()
    unit = Text()
    type = Text()
    type_name = Text()
    requirement = Text(metadata={"description": "recorded or continuous"})
    started_at = Instant()
    ended_at = Instant()
    place = Text(allow_none=True)
    officers = ma.fields.List(Text())
    devices = ma.fields.List(Text())
    deadline_at = Instant(metadata={"description": "ended_at + the type's upload_deadline_hours"})
    overdue_hours = ma.fields.Float()
    excluded_clips = ma.fields.Integer(metadata={"description": "Clips legal staff unlinked from the step"})


def page_schema(name: str, item) -> type[ma.Schema]:
    return ma.Schema.from_dict({"total": ma.fields.Integer(), "limit": ma.fields.Integer(),
                                "offset": ma.fields.Integer(), "items": ma.fields.List(ma.fields.Nested(item))},
                               name=name)


def page_of(session, statement, query, view) -> dict:
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = session.execute(statement.limit(query["limit"]).offset(query["offset"])).all()
    return {"total": total, "limit": query["limit"], "offset": query["offset"], "items": [view(row) for row in rows]}


def has_link(column, key, state: str = "linked"):
    """EXISTS a link in `state` whose `column` (clip_id or step_id) is `key`."""
    return select(ClipLink.id).where(column == key, ClipLink.state == state).exists()


def unlinked_clips():
    """Clips linked to no step (rows: Clip, assigned, excluded), oldest received first; callers add filters."""
    assigned = select(DeviceAssignment.id).where(
        DeviceAssignment.device_id == Clip.device_id, DeviceAssignment.started_at <= Clip.corrected_end,
        or_(DeviceAssignment.ended_at.is_(None), DeviceAssignment.ended_at > Clip.corrected_start)).exists()
    excluded = has_link(ClipLink.clip_id, Clip.id, "excluded")
    return (select(Clip, assigned.label("assigned"), excluded.label("excluded"))
            .where(~has_link(ClipLink.clip_id, Clip.id)).order_by(Clip.received_at, Clip.id))


@blp.route("/unlinked-clips")
class UnlinkedClips(MethodView):
    @roles(*READERS)
    @blp.arguments(UnlinkedQuery, location="query")
    @blp.response(200, page_schema("UnlinkedClipsPage", UnlinkedClipSchema))
    def get(self, query):
        """Clips received more than `older_than_hours` ago that are linked to no step, oldest first."""
        settings = runtime().settings
        hours = query["older_than_hours"]
        now = utcnow()
        cutoff = now - timedelta(hours=settings.linking.unlinked_after_hours if hours is None else hours)
        statement = unlinked_clips().where(Clip.received_at <= cutoff)
        if query["station"] is not None:
            statement = statement.where(Clip.station_id == str(query["station"]))
        if query["device"] is not None:
            statement = statement.where(Clip.device_serial == query["device"])
        with runtime().session() as session:
            return page_of(session, statement, query, lambda row: unlinked_view(row, now))


def unlinked_view(row, now) -> dict:
    clip = row.Clip
    if row.excluded:
        why = "excluded"
    elif clip.officer_id is None and clip.device_id is None:
        why = "device_unregistered"
    elif clip.officer_id is None and not row.assigned:
        why = "no_officer"
    else:
        why = "no_step"
    return {"id": clip.id, "filename": clip.filename, "device_serial": clip.device_serial,
            "device_registered": clip.device_id is not None, "officer_id": clip.officer_id,
            "station_id": clip.station_id, "recorded_at": clip.recorded_at, "corrected_start": clip.corrected_start,
            "corrected_end": clip.corrected_end, "received_at": clip.received_at,
            "waiting_hours": round((now - clip.received_at).total_seconds() / 3600, 2), "why": why,
            "message": t(f"queue.unlinked.{why}", serial=clip.device_serial or "—")}


@blp.route("/steps-without-footage")
class StepsWithoutFootage(MethodView):
    @roles(*READERS)
    @blp.arguments(StepsQuery, location="query")
    @blp.response(200, page_schema("StepsWithoutFootagePage", StepWithoutFootageSchema))
    def get(self, query):
        """Steps whose type needs footage, ended more than the type's upload deadline ago, with no
        linked clip; the longest overdue first."""
        settings = runtime().settings
        if query["type"] is not None and query["type"] not in settings.step_types:
            raise Refused(422, "queue.unknown_step_type", "type", type=query["type"])
        now = utcnow()
        due = [and_(Step.type == code, Step.ended_at <= now - _deadline(settings, code))
               for code, kind in settings.step_types.items()
               if kind.requirement != "none" and query["type"] in (None, code)]
        excluded = (select(func.count(ClipLink.id)).where(ClipLink.step_id == Step.id, ClipLink.state == "excluded")
                    .scalar_subquery())
        statement = (select(Step, Case.case_number, Case.unit_code, excluded.label("excluded"))
                     .join(Case, Case.id == Step.case_id)
                     .options(selectinload(Step.officers), selectinload(Step.devices))
                     .where(or_(*due) if due else false(), ~has_link(ClipLink.step_id, Step.id))
                     .order_by(Step.ended_at, Step.id))
        with runtime().session() as session:
            if query["unit"] is not None:
                statement = statement.where(Case.unit_code.in_(unit_tree(session, query["unit"])))
            return page_of(session, statement, query, lambda row: _step_view(settings, row, now))


def _deadline(settings, step_type: str) -> timedelta:
    return timedelta(hours=settings.audit_value(step_type, "upload_deadline_hours"))


def _step_view(settings, row, now) -> dict:
    step, kind = row.Step, settings.step_types[row.Step.type]
    deadline = step.ended_at + _deadline(settings, step.type)
    return {"id": step.id, "case_id": step.case_id, "case_number": row.case_number, "unit": row.unit_code,
            "type": step.type, "type_name": settings.step_type_name(step.type, request_language()),
            "requirement": kind.requirement, "started_at": step.started_at, "ended_at": step.ended_at,
            "place": step.place, "officers": [item.officer_code for item in step.officers],
            "devices": [item.device_serial for item in step.devices], "deadline_at": deadline,
            "overdue_hours": round((now - deadline).total_seconds() / 3600, 2), "excluded_clips": row.excluded}
