"""Recorders (执法记录仪): the registry, who had which recorder when, and how far its clock was off.
Every change re-links the clips it affects in the same transaction."""
from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView
from sqlalchemy import select

from server.auth import current_principal, roles
from server.operations import OpContext
from server.operations import devices as ops
from workers.transaction import run
from server.operations.versions import Instant
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.device_models import ClockReport, DeviceAssignment
from storage.models import Device

blp = Blueprint("devices", __name__, url_prefix="/devices",
                description="Recorders: registry, assignment history (sign-out / sign-in) and clock reports")

READERS = ("admin", "legal", "inspector", "officer", "station")
ASSIGNERS = ("admin", "officer", "station")
REPLAY_HEADER = {"Idempotent-Replay": "true"}


def perform(operation, *args):
    """Run an operation in its own transaction; answer its result, status and replay header."""
    rt = runtime()
    ctx = OpContext(rt.settings, current_principal(), request.remote_addr)
    outcome = run(rt, lambda session: operation(session, ctx, *args))
    return outcome.answer, outcome.status, REPLAY_HEADER if outcome.replay else {}


class LinkingSchema(ma.Schema):
    clips = ma.fields.Integer(metadata={"description": "Clips whose links were recomputed"})
    added = ma.fields.Integer()
    removed = ma.fields.Integer()
    updated = ma.fields.Integer()
    retimed = ma.fields.Integer(metadata={"description": "Clips whose corrected times changed"})


class AssignmentSchema(ma.Schema):
    id = Text()
    device = Text(metadata={"description": "Serial"})
    officer = Text()
    started_at = Instant()
    ended_at = Instant(allow_none=True, metadata={"description": "null: still signed out"})
    recorded_by = Text()
    created_at = Instant()
    updated_at = Instant()
    linking = ma.fields.Nested(LinkingSchema)


class ClockReportSchema(ma.Schema):
    id = Text()
    device = Text()
    device_time = Instant()
    station_time = Instant()
    offset_seconds = ma.fields.Float(metadata={"description": "device time − true time (positive: runs ahead)"})
    station_id = Text(allow_none=True)
    recorded_by = Text()
    created_at = Instant()
    linking = ma.fields.Nested(LinkingSchema)


class DeviceSchema(ma.Schema):
    id = Text()
    serial = Text()
    model = Text(allow_none=True)
    unit = Text(allow_none=True)
    created_at = Instant()
    current_assignment = ma.fields.Nested(AssignmentSchema, allow_none=True)
    latest_clock_report = ma.fields.Nested(ClockReportSchema, allow_none=True)
    linking = ma.fields.Nested(LinkingSchema, metadata={"description": "Clips that arrived before registration"})


class DeviceQuery(ma.Schema):
    unit = Text(load_default=None, metadata={"description": "This unit and its sub-units"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 10**9))


@blp.route("")
class Devices(MethodView):
    @roles(*READERS)
    @blp.arguments(DeviceQuery, location="query")
    @blp.response(200, DeviceSchema(many=True))
    def get(self, query):
        """Recorders by serial, with who has each now and its latest clock report."""
        with runtime().session() as session:
            statement = select(Device).order_by(Device.serial).limit(query["limit"]).offset(query["offset"])
            if query["unit"] is not None:
                statement = statement.where(Device.unit_code.in_(ops.unit_tree(session, query["unit"])))
            return [ops.device_view(session, device) for device in session.scalars(statement)]


@blp.route("/<string:serial>")
class DeviceResource(MethodView):
    @roles(*READERS)
    @blp.response(200, DeviceSchema)
    def get(self, serial):
        """A recorder, who has it now and its latest clock report."""
        with runtime().session() as session:
            return ops.device_view(session, ops.device_or_404(session, serial))

    @roles("admin")
    @blp.arguments(ops.DeviceBody, required=False)
    @blp.response(201, DeviceSchema)
    @blp.alt_response(200, schema=DeviceSchema, description="Already registered: updated, or unchanged (replay)")
    def put(self, body, serial):
        """Register a recorder (201; clips that arrived before are linked now) or replace its model and unit."""
        return perform(ops.register_device, serial, body)


@blp.route("/<string:serial>/sign-out")
class SignOut(MethodView):
    @roles(*ASSIGNERS)
    @blp.arguments(ops.SignOutBody)
    @blp.response(201, AssignmentSchema)
    @blp.alt_response(200, schema=AssignmentSchema, description="Replay of the same sign-out")
    @blp.errors(409)
    def post(self, body, serial):
        """An officer takes the recorder; 409 while someone else has it."""
        return perform(ops.sign_out, serial, body)


@blp.route("/<string:serial>/sign-in")
class SignIn(MethodView):
    @roles(*ASSIGNERS)
    @blp.arguments(ops.SignInBody, required=False)
    @blp.response(200, AssignmentSchema)
    @blp.errors(409)
    def post(self, body, serial):
        """The recorder comes back; 409 when it is not signed out."""
        return perform(ops.sign_in, serial, body)


@blp.route("/<string:serial>/assignments")
class Assignments(MethodView):
    @roles(*READERS)
    @blp.response(200, AssignmentSchema(many=True))
    def get(self, serial):
        """The recorder's assignment history, oldest first."""
        with runtime().session() as session:
            device = ops.device_or_404(session, serial)
            rows = session.scalars(select(DeviceAssignment).where(DeviceAssignment.device_id == device.id)
                                   .order_by(DeviceAssignment.started_at))
            return [ops.assignment_view(row, serial) for row in rows]

    @roles(*ASSIGNERS)
    @blp.arguments(ops.AssignmentBody)
    @blp.response(201, AssignmentSchema)
    @blp.alt_response(200, schema=AssignmentSchema, description="Replay of the same entry")
    @blp.errors(409)
    def post(self, body, serial):
        """Enter a period after the fact; 409 when it overlaps another period of the recorder."""
        return perform(ops.add_assignment, serial, body)


@blp.route("/<string:serial>/assignments/<uuid:assignment_id>")
class AssignmentResource(MethodView):
    @roles("admin")
    @blp.arguments(ops.AssignmentPatch)
    @blp.response(200, AssignmentSchema)
    @blp.errors(409)
    def patch(self, body, serial, assignment_id):
        """Correct a period (officer, start or end); the clips it affects are re-linked."""
        return perform(ops.correct_assignment, serial, str(assignment_id), body)


@blp.route("/<string:serial>/clock-reports")
class ClockReports(MethodView):
    @roles(*READERS)
    @blp.response(200, ClockReportSchema(many=True))
    def get(self, serial):
        """The recorder's clock reports by device time."""
        with runtime().session() as session:
            device = ops.device_or_404(session, serial)
            rows = session.scalars(select(ClockReport).where(ClockReport.device_id == device.id)
                                   .order_by(ClockReport.device_time))
            return [ops.clock_view(row, serial) for row in rows]

    @roles("station", "admin")
    @blp.arguments(ops.ClockReportBody)
    @blp.response(201, ClockReportSchema)
    @blp.alt_response(200, schema=ClockReportSchema, description="Replay of the same report")
    @blp.errors(409)
    def post(self, body, serial):
        """A station's measurement of the recorder's clock; the clips it corrects are re-timed and re-linked."""
        return perform(ops.add_clock_report, serial, body)
