"""Cases (案件): created under a client-chosen id, read with their steps, updated with If-Match.

Also the small helpers the casework endpoints share: the operation context of a request and
the answer to an operation's outcome (Idempotent-Replay, ETag)."""
from __future__ import annotations

import marshmallow as ma
from flask import jsonify, request
from flask.views import MethodView

from server.auth import current_principal, roles
from server.i18n import t
from server.operations import OpContext
from workers import transaction
from server.operations.cases import (CaseBody, CasePatch, CaseQuery, case_view, create_case, get_case, list_cases,
                                     update_case)
from server.operations.steps import case_steps
from server.operations.versions import Instant, Outcome, Stale, etag, parse_if_match
from server.resources.fields import Text
from server.resources.responses import Blueprint
from server.runtime import runtime

blp = Blueprint("cases", __name__, url_prefix="/cases", description="Cases (案件) and their steps")

READERS = ("admin", "legal", "inspector", "officer")
WRITERS = ("admin", "legal", "officer")


# --- shared by the casework endpoints --------------------------------------------------------

class IfMatch(ma.Schema):
    if_match = Text(data_key="If-Match", metadata={"description": 'The version last read (its ETag), e.g. "3"'})


def op_context() -> OpContext:
    return OpContext(runtime().settings, current_principal(), request.remote_addr)


def perform(work) -> Outcome:
    """Run `work(session, ctx)` as one transaction (linking lock taken)."""
    ctx = op_context()
    return transaction.run(runtime(), lambda session: work(session, ctx))


def reply(outcome: Outcome, versioned: bool = True):
    headers = {"Idempotent-Replay": "true"} if outcome.replay else {}
    if versioned:
        headers.update(etag(outcome.answer["version"]))
    return outcome.answer, outcome.status, headers


def stale_version(error: Stale):
    """409 with the current version, so that the client can re-read and redo its change."""
    message = t(error.key, **error.values)
    return (jsonify({"code": 409, "status": "Conflict", "message": message, "errors": {"If-Match": [message]},
                     "current_version": error.current_version}), 409, etag(error.current_version))


blp.register_error_handler(Stale, stale_version)


# --- schemas of the answers ------------------------------------------------------------------

class LinkingStats(ma.Schema):
    clips = ma.fields.Integer(metadata={"description": "Clips whose links were recomputed"})
    added = ma.fields.Integer()
    removed = ma.fields.Integer()
    updated = ma.fields.Integer()


class StepLink(ma.Schema):
    id = ma.fields.String()
    clip_id = ma.fields.String()
    origin = ma.fields.String(metadata={"description": "auto or manual"})
    state = ma.fields.String(metadata={"description": "linked, or excluded by a manual decision"})
    rule = ma.fields.String(metadata={"description": "officer, device, officer+device or manual"})
    overlap_seconds = ma.fields.Float(allow_none=True)
    details = ma.fields.Dict()
    reason = ma.fields.String(allow_none=True)
    decided_by = ma.fields.String(allow_none=True)


class StepView(ma.Schema):
    id = ma.fields.String()
    case_id = ma.fields.String()
    type = ma.fields.String()
    started_at = Instant()
    ended_at = Instant()
    place = ma.fields.String(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    officers = ma.fields.List(ma.fields.String())
    devices = ma.fields.List(ma.fields.String())
    version = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = Instant()
    updated_at = Instant()
    links = ma.fields.List(ma.fields.Nested(StepLink))
    linking = ma.fields.Nested(LinkingStats, metadata={"description": "What this write re-linked"})


class CaseView(ma.Schema):
    id = ma.fields.String()
    case_number = ma.fields.String()
    agency = ma.fields.String(metadata={"description": "Unit whose case numbering the number belongs to"})
    unit = ma.fields.String()
    title = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    officers = ma.fields.List(ma.fields.String())
    opened_at = Instant(allow_none=True)
    closed_at = Instant(allow_none=True)
    version = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = Instant()
    updated_at = Instant()
    steps = ma.fields.List(ma.fields.Nested(StepView), metadata={"description": "Only when reading one case"})


# --- endpoints -------------------------------------------------------------------------------

@blp.route("")
class Cases(MethodView):
    @roles(*READERS)
    @blp.arguments(CaseQuery, location="query")
    @blp.response(200, CaseView(many=True), headers={"X-Total-Count": {"schema": {"type": "integer"}}})
    def get(self, query):
        """Cases by case number, unit (with its sub-units), officer or status; X-Total-Count has the total."""
        with runtime().session() as session:
            found, total = list_cases(session, query)
        return found, 200, {"X-Total-Count": str(total)}

    @roles(*WRITERS)
    @blp.arguments(CaseBody)
    @blp.response(201, CaseView)
    @blp.alt_response(200, schema=CaseView, description="A replay of this create: nothing new was written")
    @blp.errors(409)
    def post(self, body):
        """Create a case under the client's id; resending the same body is answered 200 with Idempotent-Replay."""
        return reply(perform(lambda session, ctx: create_case(session, ctx, body)))


@blp.route("/<uuid:case_id>")
class CaseResource(MethodView):
    @roles(*READERS)
    @blp.response(200, CaseView)
    def get(self, case_id):
        """A case with its steps and their links; ETag is its version."""
        with runtime().session() as session:
            view = case_view(get_case(session, str(case_id)))
            view["steps"] = case_steps(session, str(case_id))
        return view, 200, etag(view["version"])

    @roles(*WRITERS)
    @blp.arguments(IfMatch, location="headers")
    @blp.arguments(CasePatch)
    @blp.response(200, CaseView)
    @blp.errors(409, 428)
    def patch(self, headers, body, case_id):
        """Change a case: If-Match must name its current version (428 without, 409 when stale)."""
        version = parse_if_match(headers.get("if_match"))
        return reply(perform(lambda session, ctx: update_case(session, ctx, str(case_id), version, body)))


@blp.route("/<uuid:case_id>/steps")
class CaseSteps(MethodView):
    @roles(*READERS)
    @blp.response(200, StepView(many=True))
    def get(self, case_id):
        """The case's steps in time order, with their links."""
        with runtime().session() as session:
            return case_steps(session, str(case_id))
