"""The JSON API under /api/v1 (flask-smorest) and its OpenAPI document at /api/v1/openapi.json."""
from __future__ import annotations

from flask_smorest import Api

from ingest import tus_api
from server.resources import (alerts, cases, clips, devices, links, media, queues, stations, steps, sync, tokens,
                              units, users)
from server.resources import retention as retention_resource
from server.resources import exports as exports_resource
from server.resources import audits as audits_resource
from server.resources.fields import text_pattern
from server.resources.responses import CommonResponses, ErrorSchema, register_components

API_PREFIX = "/api/v1"
BLUEPRINTS = (tokens.blp, stations.blp, users.blp, tus_api.blp, clips.blp, media.blp, alerts.blp, units.blp, cases.blp,
              steps.blp, sync.blp, devices.blp, links.blp, queues.blp)
BLUEPRINTS += (retention_resource.blp,)
BLUEPRINTS += (exports_resource.blp,)
BLUEPRINTS += (audits_resource.blp,)


class FullrecordApi(Api):
    """Every error is documented as the statuses an operation really gives, in one shape;
    no catch-all "default" answer that would hide an undocumented status."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None


def init_app(app) -> None:
    app.config.update(
        API_TITLE="fullrecord",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": "Evidence backend for law-enforcement body cameras (执法全过程记录)."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    tus_api.init_app(app)
    api = FullrecordApi(app, spec_kwargs={"extra_plugins": [CommonResponses(app)]})
    register_components(api.spec)
    api.ma_plugin.converter.add_attribute_function(text_pattern)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=f"{API_PREFIX}{blueprint.url_prefix or ''}")
    app.extensions["fullrecord_api"] = api
