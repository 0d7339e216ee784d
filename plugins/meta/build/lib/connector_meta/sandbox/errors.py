"""Graph API errors as Meta sends them: ``{"error": {"message", "type", "code", ...}}``."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Response, jsonify

# Throttling answers (130429 throughput, 131056 pair rate, 80014 catalog batch calls). Meta's HTTP status for
# these varies between reports (400/403/429); the sandbox uses 429 by default so generic HTTP clients retry,
# and the status is an option (``throttle_http_status``). Clients must key on ``error.code``.
THROTTLE_CODES = frozenset({4, 80014, 130429, 131056})


class GraphError(Exception):
    """An error answer of the Graph API.

    :param code: Meta's error code (100, 190, 131009, ...).
    :param message: the human message; Meta prefixes it with ``(#code)``.
    :param details: ``error_data.details`` (WhatsApp) - the part clients should log.
    :param status: the HTTP status; ``None`` picks 401 for 190, 400 otherwise.
    :param subcode: ``error_subcode`` when Meta sends one (Messenger errors).
    :param whatsapp: add ``error_data.messaging_product: "whatsapp"`` (Cloud API errors).
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        details: str | None = None,
        status: int | None = None,
        subcode: int | None = None,
        whatsapp: bool = False,
        error_type: str = "OAuthException",
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.status = status if status is not None else (401 if code == 190 else 400)
        self.subcode = subcode
        self.whatsapp = whatsapp
        self.error_type = error_type

    def body(self) -> dict[str, Any]:
        """The JSON body Meta answers with."""
        # Meta prefixes messages with the code, except for token errors.
        message = self.message if self.code == 190 else f"(#{self.code}) {self.message}"
        error: dict[str, Any] = {"message": message, "type": self.error_type, "code": self.code}
        if self.whatsapp or self.details is not None:
            data: dict[str, Any] = {"details": self.details or self.message}
            if self.whatsapp:
                data = {"messaging_product": "whatsapp", **data}
            error["error_data"] = data
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)
        return {"error": error}

    def response(self, throttle_status: int = 429) -> Response:
        """A Flask response for this error."""
        response = jsonify(self.body())
        response.status_code = throttle_status if self.code in THROTTLE_CODES else self.status
        # Meta marks authentication failures the OAuth way as well.
        if self.code == 190:
            response.headers["WWW-Authenticate"] = (
                'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"'
            )
        return response


def invalid_parameter(details: str, *, whatsapp: bool = False) -> GraphError:
    """Code 100: a parameter is unknown, of the wrong type, or malformed."""
    return GraphError(100, "Invalid parameter", details=details, whatsapp=whatsapp)


def missing_parameter(details: str) -> GraphError:
    """Code 131008: a required WhatsApp parameter is missing."""
    return GraphError(131008, "Required parameter is missing", details=details, whatsapp=True)


def invalid_value(details: str) -> GraphError:
    """Code 131009: a WhatsApp parameter value is not valid (limits, unknown products...)."""
    return GraphError(131009, "Parameter value is not valid", details=details, whatsapp=True)


def unknown_object(object_id: str, method: str = "get") -> GraphError:
    """Code 100, subcode 33: the path names an object the token cannot see."""
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.",
        subcode=33,
        error_type="GraphMethodException",
    )
