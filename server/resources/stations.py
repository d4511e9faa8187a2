"""Collection stations: registering them and issuing their tokens (admins only), and the station
agent's status report of its local backlog (the station itself)."""
from __future__ import annotations

import logging
from datetime import timezone

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from server import accounts
from server.auth import current_principal, roles
from server.operations import Refused
from server.operations.versions import Instant
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.resources.tokens import RotatedTokenSchema, TokenSchema, grace, rotated_view, token_views
from server.runtime import runtime
from storage.custody import in_custody_transaction
from storage.db import utcnow
from storage.models import Station

log = logging.getLogger(__name__)

blp = Blueprint("stations", __name__, url_prefix="/stations", description="Collection stations")

FILE_STATES = ("pending", "hashing", "ready", "uploading", "done", "failed")
"""The states of a file in the agent's local journal; a report counts the files in each."""
FAILED_SHOWN = 20
"""Failed files a report may describe (the count in `files.failed` covers them all)."""


def _count(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(min=0, max=2**63 - 1), **kwargs)


class FileCountsSchema(ma.Schema):
    """Exactly these six keys: the agent's files by state."""
    pending = _count()
    hashing = _count()
    ready = _count()
    uploading = _count()
    done = _count()
    failed = _count()


class FailedFileSchema(ma.Schema):
    path = Text(required=True, validate=ma.validate.Length(1, 1024), metadata={"description": "Under the watched folder"})
    reason = Text(required=True, validate=ma.validate.Length(max=500))


class AgentReportSchema(ma.Schema):
    """What `fullrecord station run` reports about its local backlog, every ~30 s."""
    agent_version = Text(required=True, validate=ma.validate.Length(1, 40))
    hostname = Text(required=True, validate=ma.validate.Length(1, 255))
    watch_dir = Text(required=True, validate=ma.validate.Length(1, 1024))
    started_at = Instant(required=True, metadata={"description": "When the agent started"})
    files = ma.fields.Nested(FileCountsSchema, required=True)
    backlog_bytes = _count(metadata={"description": "Bytes of the files not yet done (failed ones excluded)"})
    oldest_waiting_since = Instant(load_default=None, allow_none=True,
                                   metadata={"description": "First seen time of the oldest file not yet done"})
    failed = ma.fields.List(ma.fields.Nested(FailedFileSchema), load_default=list,
                            validate=ma.validate.Length(max=FAILED_SHOWN))
    last_error = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=500),
                      metadata={"description": "e.g. server unreachable: ..."})

    @ma.post_load
    def _in_utc(self, data, **_kwargs):
        for key in ("started_at", "oldest_waiting_since"):
            if data.get(key) is not None:
                data[key] = data[key].astimezone(timezone.utc)
        return data


class AgentReportAnswerSchema(AgentReportSchema):
    station_id = Text()
    received_at = Instant()


class StationSchema(ma.Schema):
    id = Text(dump_only=True)
    name = Text(required=True, validate=ma.validate.Length(1, 100))
    location = Text(allow_none=True, validate=ma.validate.Length(max=200))
    created_at = ma.fields.AwareDateTime(dump_only=True)
    last_seen_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    agent_reported_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True,
                                                metadata={"description": "When its agent last reported; null: never"})
    agent_report = ma.fields.Dict(dump_only=True, allow_none=True,
                                  metadata={"description": "Its agent's latest report, as in PUT /stations/me/agent"})


class NewStationSchema(StationSchema):
    token = Text(dump_only=True, metadata={"description": "Shown once."})
    token_id = Text(dump_only=True)


class NewTokenSchema(ma.Schema):
    id = Text()
    token = Text()


@blp.route("")
class Stations(MethodView):
    @roles("admin")
    @blp.response(200, StationSchema(many=True))
    def get(self):
        """All stations, by name."""
        with runtime().session() as session:
            return session.scalars(select(Station).order_by(Station.name)).all()

    @roles("admin")
    @blp.arguments(StationSchema)
    @blp.response(201, NewStationSchema)
    @blp.errors(409)
    def post(self, body):
        """Register a station; the answer holds its token, which is never shown again."""
        def register(session):
            station, row, token = accounts.create_station(session, body["name"], body.get("location"))
            fields = ("id", "name", "location", "created_at", "last_seen_at")
            return {**{name: getattr(station, name) for name in fields}, "token": token, "token_id": row.id}
        return in_custody_transaction(runtime().session, register)


@blp.route("/<uuid:station_id>/tokens")
class StationTokens(MethodView):
    @roles("admin")
    @blp.response(200, TokenSchema(many=True))
    def get(self, station_id):
        """The station's tokens, newest first (never the tokens themselves)."""
        with runtime().session() as session:
            accounts.find_station(session, str(station_id))  # 404 for an unknown station
            return token_views(accounts.list_tokens(session, station_id=str(station_id)))

    @roles("admin")
    @blp.response(201, NewTokenSchema)
    def post(self, station_id):
        """Issue another token for a station, beside the ones it has (to replace them, rotate)."""
        def issue(session):
            row, token = accounts.new_station_token(session, str(station_id))
            return {"id": row.id, "token": token}
        return in_custody_transaction(runtime().session, issue)


@blp.route("/<uuid:station_id>/tokens/rotate")
class StationTokenRotation(MethodView):
    @roles("admin")
    @blp.response(201, RotatedTokenSchema)
    def post(self, station_id):
        """Replace the station's token: the answer holds the new one, shown once; every token the
        station had keeps working for `auth.rotation_grace_minutes` (time to deploy the new one
        without losing an upload), then expires. Revoke the old one to end it at once."""
        def rotate(session):
            row, token, replaced = accounts.rotate_station_tokens(session, str(station_id), grace=grace())
            return rotated_view(row, token, replaced)
        return in_custody_transaction(runtime().session, rotate)


@blp.route("/me/agent")
class AgentReport(MethodView):
    @roles("station")
    @blp.arguments(AgentReportSchema)
    @blp.response(200, AgentReportAnswerSchema)
    def put(self, body):
        """The calling station's agent reports its local backlog; it replaces the previous report.
        It also counts as the station's contact (`last_seen_at`)."""
        principal = current_principal()
        now = utcnow()
        with runtime().session() as session, session.begin():
            station = session.get(Station, principal.id)
            if station is None:
                raise Refused(404, "accounts.not_found", what="station", id=principal.id)
            station.agent_report = AgentReportSchema().dump(body)
            station.agent_reported_at = station.last_seen_at = now
        log.debug("station %s agent report: %s", principal.name,
                  " ".join(f"{state}={body['files'][state]}" for state in FILE_STATES))
        return {"station_id": principal.id, "received_at": now, **body}
