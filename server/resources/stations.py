"""Collection stations: registering them and issuing their tokens (admins only)."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from server import accounts
from server.auth import roles
from server.resources.fields import Text
from server.runtime import runtime
from storage.models import Station

blp = Blueprint("stations", __name__, url_prefix="/stations", description="Collection stations")


class StationSchema(ma.Schema):
    id = Text(dump_only=True)
    name = Text(required=True, validate=ma.validate.Length(1, 100))
    location = Text(allow_none=True, validate=ma.validate.Length(max=200))
    created_at = ma.fields.AwareDateTime(dump_only=True)
    last_seen_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)


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
    def post(self, body):
        """Register a station; the answer holds its token, which is never shown again."""
        with runtime().session() as session, session.begin():
            station, row, token = accounts.create_station(session, body["name"], body.get("location"))
            fields = ("id", "name", "location", "created_at", "last_seen_at")
            return {**{name: getattr(station, name) for name in fields}, "token": token, "token_id": row.id}


@blp.route("/<uuid:station_id>/tokens")
class StationTokens(MethodView):
    @roles("admin")
    @blp.response(201, NewTokenSchema)
    def post(self, station_id):
        """Issue another token for a station (to rotate: issue, deploy, then revoke the old one)."""
        with runtime().session() as session, session.begin():
            row, token = accounts.new_station_token(session, str(station_id))
            return {"id": row.id, "token": token}
