"""What keeps the pages and the API safe to use from a browser: CSRF tokens on every form
(Flask-WTF), the session cookie's flags, and headers that forbid framing, sniffing, caching
and scripts from anywhere but our own files (the pages) or from anywhere at all (the API's
JSON and evidence), and that keep browsers on HTTPS once they have used it."""
from __future__ import annotations

from flask import current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from server.auth import bearer_token
from server.web.blueprint import WEB, bp

csrf = CSRFProtect()
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; media-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The API's answers are data (JSON, evidence files), never a document that may load or run anything."""


class PageSessionInterface(SecureCookieSessionInterface):
    """The signed cookie, Secure when configured or when the request came over HTTPS."""

    def get_cookie_secure(self, app) -> bool:
        mode = app.config["FULLRECORD_COOKIE_SECURE"]
        return mode == "always" or (mode == "auto" and has_request_context() and request.is_secure)


@bp.before_request
def _protect_forms():
    # A caller with a bearer token is not using the cookie, so only the cookie's forms need a CSRF token.
    if request.method in UNSAFE_METHODS and bearer_token() is None:
        csrf.protect()


@bp.after_request
def _page_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "web.static":
        response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def _api_headers(response):
    # Every answer outside the pages: the JSON API, tus, evidence downloads, /healthz, errors.
    if request.blueprint == WEB:
        return response
    response.headers.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")  # tokens, evidence and facts about it
    return response


def _transport_security(response):
    security = current_app.extensions["fullrecord"].settings.security
    if security.hsts == "always" or (security.hsts == "auto" and request.is_secure):
        response.headers.setdefault("Strict-Transport-Security",
                                    f"max-age={security.hsts_max_age_seconds}; includeSubDomains")
    return response


def init_app(app) -> None:
    app.after_request(_api_headers)
    app.after_request(_transport_security)
    settings = app.extensions["fullrecord"].settings.web
    app.config.update(
        SESSION_COOKIE_NAME="fullrecord_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        FULLRECORD_COOKIE_SECURE=settings.cookie_secure,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=settings.session_max_hours * 3600,
    )
    app.session_interface = PageSessionInterface()
    csrf.init_app(app)
