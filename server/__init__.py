"""fullrecord's web application: the JSON API, the health check and (later) the web pages."""
from __future__ import annotations

import os
import secrets

from flask import Flask

from server.settings import Settings, load_settings

SECRET_KEY_FILE = "secret_key"


def _secret_key(settings: Settings) -> str:
    if settings.server.secret_key:
        return settings.server.secret_key
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(settings: Settings | None = None) -> Flask:
    from server import api, auth, errors, health
    from server.runtime import Runtime

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        FULLRECORD_LANGUAGE=settings.language,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=None,
    )
    app.json.ensure_ascii = False  # Chinese text stays readable in JSON answers
    Runtime(settings).init_app(app)
    auth.init_app(app)
    health.init_app(app)
    api.init_app(app)
    errors.init_app(app)
    return app
