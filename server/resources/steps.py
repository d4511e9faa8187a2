"""Enforcement steps (执法环节): created under a client-chosen id, updated with If-Match; every
write re-links the clips it can affect and answers with what changed."""
from __future__ import annotations

from flask.views import MethodView

from server.auth import roles
from server.operations.steps import StepBody, StepPatch, create_step, get_step, step_view, update_step
from server.operations.versions import Stale, etag, parse_if_match
from server.resources.cases import READERS, WRITERS, IfMatch, StepView, perform, reply, stale_version
from server.resources.responses import Blueprint
from server.runtime import runtime

blp = Blueprint("steps", __name__, url_prefix="/steps", description="Enforcement steps (执法环节) of cases")
blp.register_error_handler(Stale, stale_version)


@blp.route("")
class Steps(MethodView):
    @roles(*WRITERS)
    @blp.arguments(StepBody)
    @blp.response(201, StepView)
    @blp.alt_response(200, schema=StepView, description="A replay of this create: nothing new was written")
    @blp.errors(409)
    def post(self, body):
        """Create a step of a case under the client's id; the clips it documents are linked at once."""
        return reply(perform(lambda session, ctx: create_step(session, ctx, body)))


@blp.route("/<uuid:step_id>")
class StepResource(MethodView):
    @roles(*READERS)
    @blp.response(200, StepView)
    def get(self, step_id):
        """A step with its links (clip, origin, state, rule, overlap, reason); ETag is its version."""
        with runtime().session() as session:
            view = step_view(session, get_step(session, str(step_id)))
        return view, 200, etag(view["version"])

    @roles(*WRITERS)
    @blp.arguments(IfMatch, location="headers")
    @blp.arguments(StepPatch)
    @blp.response(200, StepView)
    @blp.errors(409, 428)
    def patch(self, headers, body, step_id):
        """Change a step (not its case): If-Match must name its current version; clips are re-linked."""
        version = parse_if_match(headers.get("if_match"))
        return reply(perform(lambda session, ctx: update_step(session, ctx, str(step_id), version, body)))
