"""What keeps the pages safe to use from a browser: CSRF tokens on every form (Flask-WTF),
the session cookie's flags, and headers that forbid framing, sniffing, caching and
scripts from anywhere but our own files."""
from __future__ import annotations

from flask import has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from server.auth import bearer_token
from server.web.blueprint import bp

csrf = CSRFProtect()
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; media-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")


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


def init_app(app) -> None:
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
