"""What the OpenAPI document says an operation can answer. Every error has one shape
(`ErrorSchema`, written by server/errors.py, the tus handler and the stale-version handler);
the statuses every operation shares are added by `CommonResponses` from facts the routes
already declare (roles, path parameters, a JSON body); a route lists its own with
`blp.errors(...)`. There is no catch-all "default" answer: a status the document does not
list for an operation is a bug, and the API fuzzer (tests/test_api_fuzz.py) looks for them."""
from __future__ import annotations

import http

import flask_smorest
import marshmallow as ma
from apispec import BasePlugin

from server.auth import PUBLIC

CHECKSUM_MISMATCH = 460
"""tus checksum extension: the bytes received do not match the checksum the client sent."""
EXTRA_RESPONSES = {CHECKSUM_MISMATCH: ("CHECKSUM_MISMATCH", "Checksum Mismatch")}
"""Error statuses outside Python's HTTPStatus: status → (component name, description)."""


class ErrorSchema(ma.Schema):
    """The body of every error answer."""

    code = ma.fields.Integer(required=True, metadata={"description": "The HTTP status"})
    status = ma.fields.String(required=True, metadata={"description": "Its name"})
    message = ma.fields.String(required=True, metadata={
        "description": "What went wrong and what to do, in the caller's language"})
    errors = ma.fields.Dict(metadata={"description": "Field → messages (request location → field → messages "
                                                     "for a request that does not fit its schema)"})
    current_version = ma.fields.Integer(metadata={"description": "On a stale If-Match (409): the current version"})


def response_name(status: int) -> str:
    """The component (under #/components/responses) that documents an error status."""
    if status in EXTRA_RESPONSES:
        return EXTRA_RESPONSES[status][0]
    return http.HTTPStatus(status).name


def register_components(spec) -> None:
    for name, description in EXTRA_RESPONSES.values():
        spec.components.response(name, {"description": description,
                                         "content": {"application/json": {"schema": ErrorSchema}}}, lazy=True)


class Blueprint(flask_smorest.Blueprint):
    def errors(self, *statuses: int):
        """Document error statuses this view gives besides those every operation shares."""
        def decorate(view):
            for status in statuses:
                view = self.alt_response(status, response=response_name(status))(view)
            return view
        return decorate


class CommonResponses(BasePlugin):
    """Adds to every API operation the answers it shares with others, read from the routes:
    401 and 403 unless the view is public, 404 when the path has parameters, 400 (malformed JSON)
    when it takes a JSON body, 429 (rate limit) always. Public views need no token."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    def operation_helper(self, path=None, operations=None, **kwargs):
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        view_class = getattr(self.app.view_functions[rule.endpoint], "view_class", None)
        for method, operation in operations.items():
            access = getattr(getattr(view_class, method, None), "_access", None)
            shared = [429]
            if access != PUBLIC:
                shared += [401, 403]
            else:
                operation["security"] = []
            if rule.arguments:  # nothing by that name, or a value that names no route (a '/' in it)
                shared.append(404)
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                shared.append(400)
            responses = operation.setdefault("responses", {})
            for status in shared:
                if status not in responses and str(status) not in responses:
                    responses[str(status)] = response_name(status)
