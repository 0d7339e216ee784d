"""The admin JSON API under ``/api/v1``: bearer-token auth, OpenAPI at ``/api/v1/openapi.json``."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from flask_smorest import Api

from connector import __version__
from connector.api.auth import check_token
from connector.api.resources import ALL
from connector.web.context import runtime

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
    """Every admin API request needs ``Authorization: Bearer <token>``; the OpenAPI document is public."""
    if request.path in PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("missing bearer token (Authorization: Bearer <token>)")
    if not check_token(runtime(), token.strip()):
        return _unauthorized("invalid token")
    return None


def _unauthorized(message: str) -> tuple[Response, int, dict[str, str]]:
    """A 401 in the shape every other API error has (the OpenAPI document's ``Error`` schema)."""
    body = {"code": 401, "status": "Unauthorized", "message": message}
    return jsonify(body), 401, {"WWW-Authenticate": 'Bearer realm="connector"'}


# Registered once, at import: blueprints are module-level and shared by every app built in this process.
for _blueprint in ALL:
    _blueprint.before_request(_authenticate)
