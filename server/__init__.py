"""fullrecord's web application: the JSON API, the health check and the pages."""
from __future__ import annotations

import logging
import os
import secrets
import tempfile

from flask import Flask

from server.settings import Settings, load_settings

SECRET_KEY_FILE = "secret_key"
log = logging.getLogger(__name__)


def secret_key(settings: Settings) -> str:
    """The configured key, else one made once in data_dir (several processes may race here:
    the key is written to a temp file and linked into place, so all of them read the same)."""
    if settings.server.secret_key:
        return settings.server.secret_key
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=settings.data_dir, prefix=".secret-")
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
            os.close(fd)
            os.link(tmp, path)
        except FileExistsError:
            log.info("session key %s was made by another process first; using that one", path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def create_app(settings: Settings | None = None) -> Flask:
    from server import api, auth, errors, health, limits, web
    from server.runtime import Runtime

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        FULLRECORD_LANGUAGE=settings.language,
        MAX_CONTENT_LENGTH=None,
    )
    app.json.ensure_ascii = False  # Chinese text stays readable in JSON answers
    Runtime(settings).init_app(app)
    limits.init_app(app)  # before auth: refused requests count too
    auth.init_app(app)
    health.init_app(app)
    api.init_app(app)
    errors.init_app(app)
    web.init_app(app)
    return app
