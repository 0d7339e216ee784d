"""Meta webhook security: the ``GET`` verification handshake and the ``X-Hub-Signature-256`` check.

Shared by WhatsApp, Messenger and Instagram, which use the same scheme:

* Setup: Meta calls ``GET <callback>?hub.mode=subscribe&hub.verify_token=<ours>&hub.challenge=<n>``;
  we answer 200 with the raw challenge when the token matches, 403 otherwise (:func:`handshake`).
* Every delivery: ``X-Hub-Signature-256: sha256=<hex>`` is the HMAC-SHA256 of the **raw** body keyed
  with the app secret. Meta signs an escaped-unicode serialisation, so the check runs over the bytes
  as received, never over re-serialised JSON (:func:`verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac

from connector.adapters import WebhookReply, WebhookRequest
from connector.errors import WebhookRejected

SIGNATURE_HEADER = "X-Hub-Signature-256"


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta would send for ``body`` (used by sandboxes and tests)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(request: WebhookRequest, app_secret: str) -> None:
    """Accept the request only if its ``X-Hub-Signature-256`` matches the body; raise ``WebhookRejected(401)``
    when the header is missing, malformed or wrong. The comparison runs in constant time."""
    if not app_secret:
        raise WebhookRejected(401, "no app secret configured, cannot verify X-Hub-Signature-256")
    header = _header(request, SIGNATURE_HEADER)
    if not header:
        raise WebhookRejected(401, f"missing {SIGNATURE_HEADER} header")
    if not header.startswith("sha256="):
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} must start with 'sha256='")
    if not hmac.compare_digest(sign(request.body, app_secret).encode(), header.strip().lower().encode()):
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} does not match the body (wrong app secret or altered body)")


def handshake(request: WebhookRequest, verify_token: str) -> WebhookReply | None:
    """Answer Meta's subscription check. Returns ``None`` for anything that is not a ``GET`` (ordinary deliveries).

    200 with the ``hub.challenge`` echoed as plain text when ``hub.mode == "subscribe"`` and the
    ``hub.verify_token`` matches; 403 otherwise (also for a ``GET`` without the hub parameters).
    """
    if request.method.upper() != "GET":
        return None
    mode = request.query.get("hub.mode")
    token = request.query.get("hub.verify_token") or ""
    challenge = request.query.get("hub.challenge")
    if mode != "subscribe" or challenge is None:
        return WebhookReply(status=403, body="expected hub.mode=subscribe with hub.challenge")
    if not verify_token or not hmac.compare_digest(token.encode(), verify_token.encode()):
        return WebhookReply(status=403, body="hub.verify_token does not match")
    return WebhookReply(status=200, body=challenge, content_type="text/plain")


def _header(request: WebhookRequest, name: str) -> str | None:
    value = request.headers.get(name)
    if value is None:  # plain dicts are case-sensitive; the core passes a case-insensitive mapping
        lowered = name.lower()
        value = next((v for k, v in request.headers.items() if k.lower() == lowered), None)
    return value
