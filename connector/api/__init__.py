"""The admin JSON API under ``/api/v1``: bearer-token auth, OpenAPI at ``/api/v1/openapi.json``."""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api

from connector import __version__
from connector.api.auth import require_bearer
from connector.api.inbox import inbox_bp
from connector.api.resources import ALL as RESOURCES
from connector.web.context import runtime

ALL = (*RESOURCES, inbox_bp)
PUBLIC = {"/api/v1/openapi.json"}


def init_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE="Chatshop Connector admin API",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api = Api(app)
    for blueprint in ALL:
        api.register_blueprint(blueprint)
    return api


def _authenticate():
    """Every admin API request needs ``Authorization: Bearer <token>`` (a ``write`` token unless it only reads);
    the OpenAPI document is public."""
    if request.path in PUBLIC:
        return None
    return require_bearer(runtime())


# Registered once, at import: blueprints are module-level and shared by every app built in this process.
for _blueprint in ALL:
    _blueprint.before_request(_authenticate)
