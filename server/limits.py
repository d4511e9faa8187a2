"""Request rate limits (Flask-Limiter), counted in Redis so that every API node shares them.

- A request with a valid bearer token counts against its token (a station, or a user of the
  pages by their session), wherever it comes from: `limits.per_token`.
- Any other request counts against its client address: `limits.per_address`.
- Failed sign-ins (the API's POST /auth/tokens and the /login page) count against the client
  address and against the user name tried: `limits.sign_in`.

A limited request is answered 429 with Retry-After (JSON for the API, the error page for the
pages). /healthz and static files are never limited. When Redis is unreachable each process
counts in its own memory until Redis answers again (Flask-Limiter's fallback, logged once), so
an outage never turns a request into an error.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from functools import partial

from flask import g, request
from flask_limiter import ApplicationLimit, Limiter, RequestLimit
from limits import RateLimitItem
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from server.auth import identify
from server.i18n import t

log = logging.getLogger(__name__)

KEY_PREFIX = "fullrecord"
STORAGE_TIMEOUT_SECONDS = 1.0
"""How long a request waits for Redis before its limits are counted in memory instead."""
SIGN_IN_ENDPOINTS = frozenset({"tokens.Tokens", "web.login_submit"})
"""POST to these is a sign-in."""
USERNAME_MAX = 64
EXEMPT_ENDPOINTS = frozenset({"health.healthz"})


def storage_uri(redis_url: str) -> str:
    """Flask-Limiter's name for the configured Redis (it spells a unix socket redis+unix://)."""
    return "redis+unix://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url


def _principal():
    try:
        return identify()
    except SQLAlchemyError:
        # The database is down: count the request by its address; the access check that follows
        # meets the same error and answers it.
        return None


def _token_key() -> str:
    principal = _principal()
    if principal is None:
        return ""
    return f"token:{principal.token_id}" if principal.token_id else f"{principal.kind}:{principal.id}"


def _address_key() -> str:
    return f"address:{request.remote_addr or '-'}"


def _signing_in() -> bool:
    return request.method == "POST" and request.endpoint in SIGN_IN_ENDPOINTS


def _username_tried() -> str:
    if request.is_json:
        body = request.get_json(silent=True)
        name = body.get("username") if isinstance(body, dict) else None
    else:
        name = request.form.get("username")
    return name.strip()[:USERNAME_MAX] if isinstance(name, str) else ""


def _username_key() -> str:
    # Hashed: people do type their password into the user name field, and the key is stored and logged.
    return "username:" + hashlib.sha256(_username_tried().casefold().encode()).hexdigest()[:32]


def _sign_in_failed(response) -> bool:
    return 400 <= response.status_code < 500 and response.status_code != 429


def _note_breach(breached: RequestLimit) -> None:
    g.breached_limit = breached


def retry_after_seconds() -> int:
    """Seconds until the limit this request broke lets requests through again (at least 1)."""
    if "retry_after" not in g:
        seconds = 1
        breached = g.get("breached_limit")
        try:
            if breached is not None:
                seconds = math.ceil(breached.window[0] - time.time())
        except RedisError:
            log.warning("rate limit store unreachable while working out Retry-After", exc_info=True)
        g.retry_after = max(1, seconds)
    return g.retry_after


def rate_text(item: RateLimitItem) -> str:
    """A limit as a person reads it: "10 per minute", "每分钟 10 次"."""
    unit = t(f"limits.unit.{item.GRANULARITY.name}")
    span = t("limits.span_one", unit=unit) if item.multiples == 1 else t("limits.span", count=item.multiples, unit=unit)
    return t("limits.rate", amount=item.amount, span=span)


def _message(key: str) -> str:
    breached = g.get("breached_limit")
    rate = rate_text(breached.limit) if breached is not None else "?"
    return t(key, rate=rate, seconds=retry_after_seconds())


def _retry_after_header(response):
    if g.get("breached_limit") is not None and response.status_code == 429:
        response.headers["Retry-After"] = str(retry_after_seconds())
    return response


def make_limiter(settings) -> Limiter:
    limits = settings.limits
    rules = [
        ApplicationLimit(limits.per_token, key_function=_token_key, scope="token",
                         exempt_when=lambda: _token_key() == "",
                         error_message=partial(_message, "limits.per_token")),
        ApplicationLimit(limits.per_address, key_function=_address_key, scope="address",
                         exempt_when=lambda: _token_key() != "",
                         error_message=partial(_message, "limits.per_address")),
        ApplicationLimit(limits.sign_in, key_function=_address_key, scope="sign-in",
                         exempt_when=lambda: not _signing_in(), deduct_when=_sign_in_failed,
                         error_message=partial(_message, "limits.sign_in")),
        ApplicationLimit(limits.sign_in, key_function=_username_key, scope="sign-in",
                         exempt_when=lambda: not _signing_in() or not _username_tried(), deduct_when=_sign_in_failed,
                         error_message=partial(_message, "limits.sign_in_user")),
    ]
    return Limiter(
        key_func=_address_key, application_limits=rules, storage_uri=storage_uri(settings.redis.url),
        storage_options={"socket_connect_timeout": STORAGE_TIMEOUT_SECONDS, "socket_timeout": STORAGE_TIMEOUT_SECONDS},
        strategy="fixed-window", key_prefix=KEY_PREFIX, headers_enabled=False, on_breach=_note_breach,
        swallow_errors=True, in_memory_fallback_enabled=True)


def trust_proxies(app, count: int) -> None:
    """Take the client address, scheme and host from the X-Forwarded-* headers that `count`
    reverse proxies in front of us set (werkzeug ProxyFix)."""
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count)


def init_app(app) -> None:
    """Call before server.auth.init_app: a request is counted before access is checked, so
    refused requests (a wrong token, say) count too."""
    settings = app.extensions["fullrecord"].settings
    trust_proxies(app, settings.limits.trusted_proxies)
    if not settings.limits.enabled:
        return
    limiter = make_limiter(settings)
    limiter.request_filter(lambda: request.endpoint in EXEMPT_ENDPOINTS)
    limiter.init_app(app)
    app.after_request(_retry_after_header)
