"""JSON answers for every error: a code, its name and a message a person can act on.
A 5xx is always a bug: it is logged with its traceback and the person is told when
it happened, not the internals."""
from __future__ import annotations

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from server.accounts import AccountError
from server.i18n import t
from server.operations import Refused
from storage.db import utcnow

log = logging.getLogger(__name__)

_GENERIC = {404: "error.not_found", 405: "error.method"}


def _flatten(errors, path=()):
    if isinstance(errors, dict):
        for key, value in errors.items():
            yield from _flatten(value, (*path, str(key)))
    elif isinstance(errors, list) and all(isinstance(item, str) for item in errors):
        yield ".".join(path[1:] or path), " ".join(errors)
    elif isinstance(errors, list):
        for item in errors:
            yield from _flatten(item, path)
    else:
        yield ".".join(path[1:] or path), str(errors)


def error_detail(messages) -> str:
    """marshmallow's nested error messages as one line: "field: text; other.field: text"."""
    return "; ".join(f"{field}: {text}" if field else text for field, text in _flatten(messages))


def _json_error(code: int, name: str, message: str, errors=None, headers=None):
    payload = {"code": code, "status": name, "message": message}
    if errors:
        payload["errors"] = errors
    return jsonify(payload), code, headers or {}


def _http_error(error: HTTPException):
    if error.code is None or error.code >= 500:
        return _internal_error(error)
    data = getattr(error, "data", None) or {}
    errors = data.get("messages") or data.get("errors")
    message = data.get("message")
    if not message and errors:
        message = t("error.invalid", detail=error_detail(errors))
    if not message:
        message = t(_GENERIC[error.code]) if error.code in _GENERIC else error.description
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    return _json_error(error.code, error.name, message, errors, headers)


def _account_error(error: AccountError):
    return _json_error(error.status, "Conflict" if error.status == 409 else "Error",
                       t(error.key, **error.values))


def _refused(error):
    errors = {error.field: [t(error.key, **error.values)]} if error.field else None
    return _json_error(error.status, HTTP_STATUS_CODES.get(error.status, "Error"), t(error.key, **error.values),
                       errors)


def _internal_error(error):
    original = getattr(error, "original_exception", None) or error
    log.error("internal error", exc_info=original)
    return _json_error(500, "Internal Server Error",
                       t("error.internal", time=utcnow().isoformat(timespec="seconds")))


def init_app(app) -> None:
    """Call after the API is set up: these handlers replace flask-smorest's generic one."""
    app.register_error_handler(AccountError, _account_error)
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _internal_error)
