"""Batch sync for offline clients: an ordered list of operations, each applied in its own
transaction and answered on its own; a retried batch is answered with replays."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from server.auth import roles
from server.operations.sync import MAX_OPERATIONS, OPERATIONS, WRITERS, run_batch
from server.resources.cases import op_context
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.runtime import runtime

blp = Blueprint("sync", __name__, url_prefix="/sync", description="Batch sync of offline clients")

BODIES = ("create_case: as POST /cases; update_case: as PATCH /cases/{id}; create_step: as POST /steps; "
          "update_step: as PATCH /steps/{id}; sign_out: as POST /devices/{serial}/sign-out plus `device`; "
          "sign_in: as POST /devices/{serial}/sign-in plus `device`")


class SyncItem(ma.Schema):
    op = Text(required=True, metadata={"description": "The operation", "enum": list(OPERATIONS)})
    id = Text(load_default=None, allow_none=True, validate=ma.validate.Length(max=64), metadata={
        "description": "The record's id: required for updates; for creates, the new record's id (or give it in body)"})
    version = ma.fields.Integer(load_default=None, allow_none=True, strict=True, validate=ma.validate.Range(min=1),
                                metadata={"description": "Updates: the version last read (as If-Match)"})
    body = ma.fields.Dict(load_default=dict, metadata={"description": BODIES})


class SyncRequest(ma.Schema):
    operations = ma.fields.List(ma.fields.Nested(SyncItem), required=True,
                                validate=ma.validate.Length(1, MAX_OPERATIONS))


class SyncError(ma.Schema):
    message = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "field → messages"})
    current_version = ma.fields.Integer(metadata={"description": "On a stale version (409): the current one"})


class SyncResult(ma.Schema):
    index = ma.fields.Integer()
    op = ma.fields.String()
    status = ma.fields.Integer(metadata={"description": "As the single-resource endpoint would answer"})
    id = ma.fields.String(allow_none=True)
    version = ma.fields.Integer(allow_none=True)
    replay = ma.fields.Boolean(metadata={"description": "Already applied earlier: nothing new was written"})
    error = ma.fields.Nested(SyncError, allow_none=True)


class SyncAnswer(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(SyncResult))


@blp.route("")
class Sync(MethodView):
    @roles(*sorted(WRITERS))
    @blp.arguments(SyncRequest)
    @blp.response(200, SyncAnswer)
    def post(self, body):
        """Apply operations in order, each in its own transaction; one failing does not stop the rest."""
        return {"results": run_batch(runtime(), op_context(), body["operations"])}
