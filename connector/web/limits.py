"""Request body limits per route: webhooks, the admin API, and everything else (dashboard forms, public pages).

A body above its route's limit is refused with 413 and the limit in the reason, before it is read: by its
``Content-Length`` here, and, for a chunked body, by Werkzeug's input stream, which stops at the limit. The embedded
server (waitress) buffers a body before the app sees it, so it refuses anything above the largest of these limits
itself, as early (see :mod:`connector.server`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

if TYPE_CHECKING:
    from connector.config import ServerConfig


def body_limit(path: str, server: ServerConfig) -> int:
    """The largest request body (bytes) accepted on ``path``."""
    if path.startswith("/webhooks/"):
        return server.max_webhook_body_bytes
    if path.startswith("/api/"):
        return server.max_api_body_bytes
    return server.max_form_body_bytes


def _refusal(limit: int) -> tuple[Response, int]:
    return jsonify({"error": f"request body too large: this route accepts at most {limit} bytes"}), 413


def install(app: Flask, server: ServerConfig) -> None:
    """Check every request's body against its route's limit (registered first, before authentication)."""

    @app.before_request
    def _limit_body() -> tuple[Response, int] | None:
        limit = body_limit(request.path, server)
        # Werkzeug's stream stops a body without Content-Length (chunked) once it passes this.
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            return _refusal(limit)
        return None

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> tuple[Response, int]:
        return _refusal(body_limit(request.path, server))
