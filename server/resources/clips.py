"""Clips: the receipt a station checks before freeing a recorder, and a clip's facts."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy import select

from server.auth import roles
from server.i18n import t
from server.runtime import runtime
from storage.models import Clip

blp = Blueprint("clips", __name__, url_prefix="/clips", description="Clips (originals received)")

READERS = ("admin", "legal", "inspector", "station")


class ClipSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String()
    sha256 = ma.fields.String()
    sm3 = ma.fields.String()
    size = ma.fields.Integer()
    filename = ma.fields.String()
    device_serial = ma.fields.String(allow_none=True)
    device_id = ma.fields.String(allow_none=True)
    officer_id = ma.fields.String(allow_none=True)
    station_id = ma.fields.String(allow_none=True)
    recorded_at = ma.fields.AwareDateTime()
    received_at = ma.fields.AwareDateTime(metadata={"description": "When the original was stored."})
    flags = ma.fields.Dict()
    links = ma.fields.List(ma.fields.Dict(), dump_default=[])


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
            return session.scalars(select(Clip).where(Clip.sha256 == query["sha256"].lower())
                                   .order_by(Clip.received_at)).all()


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
            return clip
