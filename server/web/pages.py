"""What every page shares: rendering with the common context (who is signed in, language,
local times, navigation), reading query strings and forms through marshmallow schemas, and
error pages in place of the API's JSON errors."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit

import marshmallow as ma
from flask import flash, redirect, render_template, request, session, url_for
from flask_smorest import abort
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from server.auth import current_principal
from server.errors import error_detail
from server.i18n import LANGUAGES, request_language, t
from server.operations import Refused
from server.accounts import AccountError
from server.runtime import runtime
from server.web.blueprint import WEB, bp
from storage.db import utcnow

log = logging.getLogger(__name__)

NAVIGATION = (  # (endpoint, message key, roles that see it)
    ("web.cases", "web.nav.cases", ("admin", "legal", "inspector")),
    ("web.unlinked", "web.nav.unlinked", ("admin", "legal", "inspector")),
    ("web.audits", "web.nav.audits", ("admin", "legal", "inspector")),
    ("web.stations", "web.nav.stations", ("admin", "legal", "inspector")),
    ("web.users", "web.nav.users", ("admin",)),
)
PAGE_ROLES = ("admin", "legal", "inspector")
"""Who may read the pages; officers use the mobile app and the API."""


class Query(ma.Schema):
    """Base of every page's query-string schema: unknown parameters (lang, utm_...) are ignored,
    and an empty value (a filter form's unused box or select) counts as absent."""

    class Meta:
        unknown = ma.EXCLUDE

    @ma.pre_load
    def _blank_is_absent(self, data, **_kwargs):
        return {key: value for key, value in data.items() if value != ""}


@bp.before_request
def _keep_language():
    """?lang= on any page switches the language for the rest of the session."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES and session.get("lang") != wanted:
        session["lang"] = wanted


@bp.app_template_filter("local")
def local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A UTC time as the reader's local time (the configured zone)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(runtime().settings.zone).strftime(fmt)


def render(template: str, status: int = 200, **context):
    return render_template(f"web/{template}", **context), status


def parse(schema: ma.Schema, values) -> dict:
    """Load a query string or form; a mistake is a 400 page that says which field and why."""
    try:
        return schema.load(values)
    except ma.ValidationError as error:
        abort(400, message=t("web.bad_input", detail=error_detail({"_": error.messages})))


def parse_query(schema: ma.Schema) -> dict:
    return parse(schema, request.args)


def parse_form(schema: ma.Schema) -> dict:
    fields = {key: value for key, value in request.form.items() if key != "csrf_token"}
    return parse(schema, fields)


def safe_next(target: str | None, default: str) -> str:
    r"""Only a path on this site, so a link cannot send a signed-in user elsewhere (browsers read
    a backslash as a slash and drop tabs: "/\evil.example" or "/<TAB>/evil.example" is another host)."""
    if not target:
        return default
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(char.isspace() or ord(char) < 32 for char in target)):
        return default
    return target


def back(default_endpoint: str, **values):
    """Redirect after a form (303: the browser GETs the page again, no resubmission)."""
    return redirect(safe_next(request.form.get("next"), url_for(default_endpoint, **values)), 303)


def done(key: str, **values) -> None:
    flash(t(key, **values), "ok")


def refused(error: Refused | AccountError) -> None:
    flash(t(error.key, **error.values), "error")


def _navigation():
    principal = current_principal()
    if principal is None:
        return []
    return [(endpoint, t(key)) for endpoint, key, allowed in NAVIGATION if principal.role in allowed]


def _language_url(code: str) -> str:
    args = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"]
    return f"{request.path}?{urlencode([*args, ('lang', code)])}"


@bp.context_processor
def _context():
    return {"t": t, "lang": request_language(), "languages": LANGUAGES, "principal": current_principal(),
            "navigation": _navigation(), "language_url": _language_url, "local": local, "timezone_name": runtime().settings.timezone,
            "now": utcnow()}


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException):
    if error.code == 401:
        if request.method == "GET":
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        message = t("web.signed_out")
    elif isinstance(error, CSRFError):
        message = t("web.csrf", reason=error.description)
    else:
        data = getattr(error, "data", None) or {}
        message = data.get("message") or (t("error.not_found") if error.code == 404 else error.description)
    if error.code is None or error.code >= 500:
        return _internal_error(error)
    return render("error.html.j2", error.code, code=error.code, message=message)


@bp.errorhandler(Exception)
def _internal_error(error):
    log.error("internal error on a page", exc_info=getattr(error, "original_exception", None) or error)
    return render("error.html.j2", 500, code=500,
                  message=t("error.internal", time=utcnow().isoformat(timespec="seconds")))


@bp.errorhandler(Refused)
@bp.errorhandler(AccountError)
def _refused_page(error: Refused | AccountError):
    return render("error.html.j2", error.status, code=error.status, message=t(error.key, **error.values))


__all__ = ["WEB", "PAGE_ROLES", "Query", "back", "done", "local", "parse_form", "parse_query",
           "refused", "render", "safe_next"]
