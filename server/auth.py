"""Who may call what. Every view declares its roles with @roles(...) or @public;
a request to a view that declares nothing is denied, so a forgotten declaration
fails closed."""
from __future__ import annotations

import logging

from flask import current_app, g, request
from flask_smorest import abort

from server.accounts import STATION_ROLE, Principal, authenticate
from server.i18n import t
from server.runtime import runtime
from server.web.blueprint import WEB
from server.web.identity import session_principal
from storage.models import ROLES

log = logging.getLogger(__name__)

PUBLIC = "public"
ALL_ROLES = frozenset((*ROLES, STATION_ROLE))
USER_ROLES = frozenset(ROLES)
# Endpoints that Flask and flask-smorest register themselves.
BUILTIN_PUBLIC_ENDPOINTS = frozenset({"static", "web.static", "api-docs.openapi_json"})


def roles(*allowed: str):
    """Allow only principals with one of these roles (admin, legal, inspector, officer, station)."""
    unknown = set(allowed) - ALL_ROLES
    if unknown or not allowed:
        raise ValueError(f"unknown roles {sorted(unknown)}; expected some of {sorted(ALL_ROLES)}")

    def declare(view):
        view._access = frozenset(allowed)
        return view
    return declare


def public(view):
    """Allow anyone, signed in or not."""
    view._access = PUBLIC
    return view


def current_principal() -> Principal | None:
    return g.get("principal")


def identify() -> Principal | None:
    """Who makes this request: the station or user of a valid bearer token, else (the pages) the
    user signed in with the session cookie, else None. Worked out once per request: the rate
    limits (server/limits.py) ask first, before access is checked."""
    if "principal" not in g:
        token = bearer_token()
        if token:
            with runtime().session() as session, session.begin():
                g.principal = authenticate(session, token)
        elif request.blueprint == WEB:
            with runtime().session() as session:
                g.principal = session_principal(session)
        else:
            g.principal = None
    return g.principal


def _declared_access(endpoint: str):
    if endpoint in BUILTIN_PUBLIC_ENDPOINTS:
        return PUBLIC
    view = current_app.view_functions[endpoint]
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        method = getattr(view_class, request.method.lower(), None)
        if method is None and request.method == "HEAD":
            method = getattr(view_class, "get", None)
        return getattr(method, "_access", None)
    return getattr(view, "_access", None)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _check_access():
    if request.endpoint is None or request.method == "OPTIONS":
        return None  # 404 / 405 / CORS preflight are answered by Flask itself
    access = _declared_access(request.endpoint)
    if access is None:
        log.error("endpoint %s %s declares no access roles: denied", request.method, request.endpoint)
        abort(403, message=t("auth.undeclared"))
    principal = identify()
    if principal is None and bearer_token() and access is not PUBLIC:
        abort(401, message=t("auth.invalid"), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if access is PUBLIC:
        return None
    if principal is None:
        abort(401, message=t("auth.missing"), headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in access:
        abort(403, message=t("auth.forbidden", role=principal.role, allowed=", ".join(sorted(access))))
    return None


def init_app(app) -> None:
    app.before_request(_check_access)
