"""GET /healthz: database, Redis and object store each, 503 when any is down."""
from __future__ import annotations

from flask import Blueprint, jsonify

from server.auth import public
from server.checks import check_all
from server.i18n import t
from server.runtime import runtime

blp = Blueprint("health", __name__)


@blp.get("/healthz")
@public
def healthz():
    results = check_all(runtime())
    healthy = all(result.ok for result in results)
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {
            result.part.replace(" ", "_"): {
                "status": "ok" if result.ok else "unavailable",
                "message": t("health.ok" if result.ok else "health.down"),
                "address": result.address,
                **({"error": result.error} if result.error else {}),
            }
            for result in results
        },
    }
    return jsonify(body), 200 if healthy else 503


def init_app(app) -> None:
    app.register_blueprint(blp)
