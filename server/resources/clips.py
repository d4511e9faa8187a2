"""Clips: the receipt a station checks before freeing a recorder, and a clip's facts."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select

from server.access import record_access
from server.auth import roles
from server.i18n import t
from server.operations.links import links_of_clip
from server.resources.links import LinkSchema
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.models import Clip
from storage.processing_models import ObstructedInterval, ProcessingStep

blp = Blueprint("clips", __name__, url_prefix="/clips", description="Clips (originals received)")

READERS = ("admin", "legal", "inspector", "station")


class StepSchema(ma.Schema):
    step = ma.fields.String()
    profile = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, queued, running, retrying, done, skipped or failed"})
    progress = ma.fields.Float()
    attempts = ma.fields.Integer()
    queue = ma.fields.String(allow_none=True)
    job_id = ma.fields.String(allow_none=True)
    worker = ma.fields.String(allow_none=True)
    command = ma.fields.List(ma.fields.List(ma.fields.String()), metadata={"description": "Exact argv run"})
    result = ma.fields.Dict()
    error = ma.fields.String(allow_none=True, metadata={"description": "Why it failed, with the tool's output tail"})
    enqueued_at = ma.fields.AwareDateTime(allow_none=True)
    started_at = ma.fields.AwareDateTime(allow_none=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True)
    seconds = ma.fields.Float(allow_none=True)


class ProcessingSchema(ma.Schema):
    state = ma.fields.String(metadata={"description": "pending, running, done or failed"})
    progress = ma.fields.Float(metadata={"description": "0..1 over all steps"})
    steps = ma.fields.List(ma.fields.Nested(StepSchema))


class DerivativeSchema(ma.Schema):
    id = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "review, poster, contact_sheet or obstruction_map"})
    profile = ma.fields.String()
    object_key = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    sm3 = ma.fields.String()
    source_sha256 = ma.fields.String()
    tool_version = ma.fields.String()
    argv = ma.fields.List(ma.fields.String())
    checks = ma.fields.Dict()
    created_at = ma.fields.AwareDateTime()


class ObstructionSchema(ma.Schema):
    start_seconds = ma.fields.Float()
    end_seconds = ma.fields.Float()
    reason = ma.fields.String(metadata={"description": "dark, covered, blurred or unreadable"})
    detail = ma.fields.Dict()


class ClipSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String()
    sha256 = ma.fields.String()
    sm3 = ma.fields.String()
    size = ma.fields.Integer()
    original_key = ma.fields.String(metadata={"description": "Where the original is kept in the object store"})
    filename = ma.fields.String()
    device_serial = ma.fields.String(allow_none=True)
    device_id = ma.fields.String(allow_none=True)
    officer_id = ma.fields.String(allow_none=True)
    station_id = ma.fields.String(allow_none=True)
    recorded_at = ma.fields.AwareDateTime(metadata={"description": "Raw start, by the recorder's own clock"})
    corrected_start = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "True start: recorded_at minus the clock offset in force for the recorder"})
    corrected_end = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "corrected_start + duration (= corrected_start while the duration is unknown)"})
    clock_offset_seconds = ma.fields.Float(allow_none=True, metadata={
        "description": "Offset applied (device − true time); null: no clock report for the recorder yet"})
    clock_report_id = ma.fields.String(allow_none=True)
    received_at = ma.fields.AwareDateTime(metadata={"description": "When the original was stored."})
    flags = ma.fields.Dict()
    media = ma.fields.Dict(metadata={"description": "What ffprobe found, or why it could not read the file"})
    duration_seconds = ma.fields.Float(allow_none=True)
    links = ma.fields.List(ma.fields.Nested(LinkSchema), dump_default=[])
    processing = ma.fields.Nested(ProcessingSchema)
    derivatives = ma.fields.List(ma.fields.Nested(DerivativeSchema))
    obstructions = ma.fields.List(ma.fields.Nested(ObstructionSchema))


class ClipQuerySchema(ma.Schema):
    sha256 = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"^[0-9a-fA-F]{64}$", error="expected a SHA-256 as 64 hexadecimal digits"))


@blp.route("")
class Clips(MethodView):
    @roles(*READERS)
    @blp.arguments(ClipQuerySchema, location="query")
    @blp.response(200, ClipSchema(many=True))
    def get(self, query):
        """Clips whose original has this SHA-256 (at most one: originals are content-addressed)."""
        with runtime().session() as session:
            clips = session.scalars(select(Clip).where(Clip.sha256 == query["sha256"].lower())
                                    .order_by(Clip.received_at)).all()
            record_access("viewed", [clip.id for clip in clips], what="metadata", lookup="sha256")
            return [clip_view(session, clip) for clip in clips]


@blp.route("/<uuid:clip_id>")
class ClipResource(MethodView):
    @roles(*READERS)
    @blp.response(200, ClipSchema)
    def get(self, clip_id):
        """A clip: status, hashes, size, times, flags and links."""
        with runtime().session() as session:
            clip = session.get(Clip, str(clip_id))
            if clip is None:
                abort(404, message=t("accounts.not_found", what="clip", id=clip_id))
            record_access("viewed", [clip.id], what="metadata")
            return clip_view(session, clip)


def clip_view(session, clip: Clip) -> dict:
    """A clip with its processing state, derivatives, obstructed intervals and links."""
    steps = session.scalars(select(ProcessingStep).where(ProcessingStep.clip_id == clip.id)
                            .order_by(ProcessingStep.created_at, ProcessingStep.step, ProcessingStep.profile)).all()
    obstructions = session.scalars(select(ObstructedInterval).where(ObstructedInterval.clip_id == clip.id)
                                   .order_by(ObstructedInterval.start_seconds)).all()
    view = {column.key: getattr(clip, column.key) for column in Clip.__table__.columns}
    view.update(processing=processing_summary(steps), derivatives=list(clip.derivatives), obstructions=obstructions,
                links=links_of_clip(session, clip.id))
    return view


def processing_summary(steps) -> dict:
    state, progress = processing_state(steps)
    return {"state": state, "progress": round(progress, 3), "steps": steps}


def processing_state(steps) -> tuple[str, float]:
    """(pending|running|done|failed, progress 0..1) of a clip's processing steps."""
    if not steps:
        return "pending", 0.0
    statuses = {step.status for step in steps}
    if "failed" in statuses:
        state = "failed"
    elif statuses <= {"done", "skipped"}:
        state = "done"
    elif statuses & {"running", "retrying"} or "done" in statuses:
        state = "running"
    else:
        state = "pending"
    return state, sum(1.0 if step.status in ("done", "skipped") else step.progress for step in steps) / len(steps)
