"""Links between clips and enforcement steps: why each exists, and legal staff's manual
decisions (link, unlink, withdraw), each with its reason and a custody event."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from server.auth import roles
from server.operations import links as ops
from server.operations.versions import Instant
from server.resources.devices import LinkingSchema, perform
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.link_models import LINK_ORIGINS, LINK_STATES, ClipLink

blp = Blueprint("links", __name__, url_prefix="/links", description="Clip ↔ step links and manual decisions")

READERS = ("admin", "legal", "inspector", "officer")


class LinkSchema(ma.Schema):
    id = Text()
    clip_id = Text()
    step_id = Text()
    step_type = Text()
    case_id = Text()
    case_number = Text()
    origin = Text(metadata={"description": "auto (the rule) or manual (legal staff's decision)"})
    state = Text(metadata={"description": "linked, or excluded (a manual unlink that re-linking respects)"})
    rule = Text(metadata={"description": "officer, device, officer+device or manual"})
    overlap_seconds = ma.fields.Float(allow_none=True, metadata={
        "description": "Overlap with the step's interval widened by the buffer"})
    details = ma.fields.Dict(metadata={"description": "The facts the rule used: officers and how known, device, "
                                                      "clip interval, window, clock offset"})
    reason = Text(allow_none=True, metadata={"description": "A manual decision's reason"})
    decided_by = Text(allow_none=True)
    created_at = Instant()
    updated_at = Instant()


class WithdrawnSchema(ma.Schema):
    withdrawn = Text(metadata={"description": "Id of the decision withdrawn"})
    clip_id = Text()
    step_id = Text()
    link = ma.fields.Nested(LinkSchema, allow_none=True, metadata={"description": "The pair's link now, if any"})
    linking = ma.fields.Nested(LinkingSchema)


class LinkQuery(ma.Schema):
    clip_id = ma.fields.UUID(load_default=None)
    step_id = ma.fields.UUID(load_default=None)
    case_id = ma.fields.UUID(load_default=None)
    origin = ma.fields.String(load_default=None, validate=ma.validate.OneOf(LINK_ORIGINS))
    state = ma.fields.String(load_default=None, validate=ma.validate.OneOf(LINK_STATES))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 10**9))


@blp.route("")
class Links(MethodView):
    @roles(*READERS)
    @blp.arguments(LinkQuery, location="query")
    @blp.response(200, LinkSchema(many=True))
    def get(self, query):
        """Links, filtered by clip, step, case, origin or state; oldest first."""
        statement = select(ClipLink).order_by(ClipLink.created_at, ClipLink.id)
        for name in ("clip_id", "step_id", "case_id", "origin", "state"):
            if query[name] is not None:
                statement = statement.where(getattr(ClipLink, name) == str(query[name]))
        with runtime().session() as session:
            links = session.scalars(statement.limit(query["limit"]).offset(query["offset"])).all()
            return ops.link_views(session, links)

    @roles("legal")
    @blp.arguments(ops.DecisionBody)
    @blp.response(201, LinkSchema)
    @blp.alt_response(200, schema=LinkSchema, description="The same decision already stands (replay)")
    def post(self, body):
        """Link (action link) or unlink (action unlink) a clip and a step, with a reason; the decision
        wins over the automatic rule until it is withdrawn."""
        return perform(ops.decide, body)


@blp.route("/<uuid:link_id>/withdraw")
class Withdraw(MethodView):
    @roles("legal")
    @blp.arguments(ops.WithdrawBody)
    @blp.response(200, WithdrawnSchema)
    @blp.errors(409)
    def post(self, body, link_id):
        """Withdraw a manual decision: the automatic rule decides the pair again."""
        return perform(ops.withdraw, str(link_id), body)
