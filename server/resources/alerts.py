"""Alerts: things a person must look at (an original failing its integrity check, a file that
cannot be read as media, a processing step that failed for good)."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select

from server.auth import current_principal, roles
from server.i18n import t
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.db import utcnow
from storage.processing_models import Alert

blp = Blueprint("alerts", __name__, url_prefix="/alerts", description="Alerts for administrators and legal staff")


class AlertSchema(ma.Schema):
    id = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    severity = ma.fields.String(metadata={"description": "critical, error or warning"})
    code = ma.fields.String()
    message = ma.fields.Method("render", metadata={"description": "In the reader's language"})
    clip_id = ma.fields.String(allow_none=True)
    details = ma.fields.Dict()
    acknowledged_at = ma.fields.AwareDateTime(allow_none=True)
    acknowledged_by = ma.fields.String(allow_none=True)

    def render(self, alert: Alert) -> str:
        return t(f"alert.{alert.code}", **alert.details)


class AlertQuerySchema(ma.Schema):
    open = ma.fields.Boolean(load_default=True, metadata={"description": "Only alerts nobody acknowledged yet"})
    clip_id = ma.fields.UUID(load_default=None)
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))


@blp.route("")
class Alerts(MethodView):
    @roles("admin", "legal")
    @blp.arguments(AlertQuerySchema, location="query")
    @blp.response(200, AlertSchema(many=True))
    def get(self, query):
        """Newest first."""
        statement = select(Alert).order_by(Alert.created_at.desc()).limit(query["limit"])
        if query["open"]:
            statement = statement.where(Alert.acknowledged_at.is_(None))
        if query["clip_id"]:
            statement = statement.where(Alert.clip_id == str(query["clip_id"]))
        with runtime().session() as session:
            return session.scalars(statement).all()


@blp.route("/<uuid:alert_id>/acknowledge")
class Acknowledge(MethodView):
    @roles("admin")
    @blp.response(200, AlertSchema)
    @blp.errors(409)
    def post(self, alert_id):
        """Mark an alert as seen by this administrator (it stays on record)."""
        with runtime().session() as session, session.begin():
            alert = session.get(Alert, str(alert_id))
            if alert is None:
                abort(404, message=t("accounts.not_found", what="alert", id=alert_id))
            if alert.acknowledged_at is not None:
                abort(409, message=t("alert.already_acknowledged", id=alert.id, when=alert.acknowledged_at.isoformat()))
            alert.acknowledged_at, alert.acknowledged_by = utcnow(), current_principal().name
            return alert
