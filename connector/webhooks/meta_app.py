"""``GET``/``POST /webhooks/meta``: one callback URL for a whole Meta app, routed to its connections.

Meta sends the webhooks of every WhatsApp number, Page and Instagram account of an app to the app's single callback
URL. This endpoint takes them all and routes each change to the connection it is for:

* WhatsApp (``object: whatsapp_business_account``): by ``changes[].value.metadata.phone_number_id``; a change that
  names no number (account-level fields such as ``template_category_update``) by the WABA id in ``entry[].id``
  (the connection's ``waba_id`` setting);
* Messenger and Instagram (``object: page`` / ``instagram``): by the Page / Instagram account id in ``entry[].id``.

Only connections whose app secret verifies ``X-Hub-Signature-256`` are candidates (several connections may share an
app; a connection of another app never receives this app's changes). No candidate verifies: 401. A change for a
number or account we do not connect is acknowledged with the rest, counted
(``connector_webhook_changes_unrouted``) and dropped: never stored under another connection.

Each connection's share is stored through the same path as a delivery to its own URL
(:func:`connector.webhooks.routes.accept`): once per delivery (a redelivery carries the same bytes, hence the same
shares), processed by the worker. A share that is not the whole body is re-serialised and signed again with that
connection's app secret, so the stored delivery verifies on its own.

The ``GET`` subscription check passes with ``[server] meta_app_verify_token`` or, when that is empty, with the verify
token of any Meta connection.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.datastructures import Headers

from connector.adapters import ChannelAdapter, ParsedWebhook, WebhookRequest
from connector.errors import NotFound, WebhookRejected
from connector.web.context import runtime
from connector.webhooks import refusals
from connector.webhooks.routes import accept, incoming

if TYPE_CHECKING:
    from connector.connections import ConnectionRef
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

bp = Blueprint("meta_app_webhooks", __name__, url_prefix="/webhooks")

#: The path of the app-level endpoint (the wizard and ``connector webhooks`` show it).
PATH = "/webhooks/meta"
#: How refusals of this endpoint are counted (``connector_webhooks_refused{platform="meta-app"}``).
ADAPTER = "meta-app"
SIGNATURE_HEADER = "X-Hub-Signature-256"

_lock = threading.Lock()
_unrouted: Counter[str] = Counter()


def unrouted_counts() -> dict[str, int]:
    """Changes dropped so far in this process because no connection owns their number/account, by ``object``."""
    with _lock:
        return dict(_unrouted)


def _count_unrouted(obj: str, changes: int) -> None:
    with _lock:
        _unrouted[obj] += changes


@dataclass(slots=True)
class _Target:
    """A connection that may receive a share of the delivery."""

    ref: ConnectionRef
    adapter: ChannelAdapter
    routing_ids: frozenset[str]
    entries: dict[int, list[Any]] = field(default_factory=dict)


def _candidates(rt: Runtime) -> list[_Target]:
    """Enabled channel connections of Meta channels (their adapter names a webhook ``object``)."""
    found: list[_Target] = []
    for channel_id, channel, enabled in rt.connections.channel_list():
        if not enabled:
            continue
        cls = rt.plugins.channel_adapters.get(channel)
        if cls is None or not cls.webhook_object:
            continue
        try:
            ref = rt.connections.ref("channel", channel_id)
            adapter = rt.connections.channel_adapter(channel_id)
        except NotFound:
            continue  # deleted meanwhile
        found.append(_Target(ref, adapter, adapter.webhook_routing_ids()))
    return found


def _error(status: int, reason: str) -> tuple[Response, int]:
    return jsonify({"error": reason}), status


def _handshake(rt: Runtime, raw: WebhookRequest, candidates: list[_Target]) -> Response:
    token = rt.config.server.meta_app_verify_token
    mode, challenge = raw.query.get("hub.mode"), raw.query.get("hub.challenge")
    if token:
        offered = raw.query.get("hub.verify_token") or ""
        if mode == "subscribe" and challenge is not None and hmac.compare_digest(offered.encode(), token.encode()):
            return Response(challenge, status=200, content_type="text/plain")
        return Response("hub.verify_token does not match server.meta_app_verify_token", status=403)
    for target in candidates:
        reply = target.adapter.handshake(raw)
        if reply is not None and reply.status == 200:
            return Response(reply.body, status=200, content_type=reply.content_type)
    return Response("hub.verify_token matches no Meta connection (or set server.meta_app_verify_token)", status=403)


def _verified(rt: Runtime, raw: WebhookRequest, candidates: list[_Target]) -> list[_Target]:
    """The candidates whose app secret (or a ``connector_verify_webhook`` implementation) accepts the delivery."""
    passed: list[_Target] = []
    for target in candidates:
        try:
            if rt.plugins.verify_webhook(target.ref, raw) is None:
                target.adapter.verify_webhook(raw)
        except WebhookRejected:
            continue
        passed.append(target)
    return passed


def _route(payload: dict[str, Any], targets: list[_Target]) -> int:
    """Share the delivery's changes out among ``targets`` (into ``_Target.entries``); the number dropped."""
    obj = payload.get("object")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise WebhookRejected(400, "entry must be a list")
    mine = [t for t in targets if t.adapter.webhook_object == obj]
    dropped = 0
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise WebhookRejected(400, f"entry[{index}] must be an object")
        if obj == "whatsapp_business_account":
            changes = entry.get("changes")
            if not isinstance(changes, list):
                raise WebhookRejected(400, f"entry[{index}].changes must be a list")
            for change in changes:
                value = change.get("value") if isinstance(change, dict) else None
                metadata = value.get("metadata") if isinstance(value, dict) else None
                number = str(metadata.get("phone_number_id") or "") if isinstance(metadata, dict) else ""
                key = number or f"waba:{entry.get('id', '')}"
                owners = [t for t in mine if key in t.routing_ids]
                for owner in owners:
                    owner.entries.setdefault(index, []).append(change)
                dropped += not owners
        else:
            owners = [t for t in mine if str(entry.get("id", "")) in t.routing_ids]
            for owner in owners:
                owner.entries[index] = []  # the whole entry
            dropped += not owners
    return dropped


def _share(raw: WebhookRequest, payload: dict[str, Any], target: _Target) -> WebhookRequest:
    """The part of the delivery for ``target`` as a request of its own (the raw one when it is all of it)."""
    entries = payload["entry"]
    if payload["object"] == "whatsapp_business_account":
        shared = [{**entries[i], "changes": changes} for i, changes in sorted(target.entries.items())]
    else:
        shared = [entries[i] for i in sorted(target.entries)]
    if shared == entries:
        return raw
    body = json.dumps({**payload, "entry": shared}, ensure_ascii=True, separators=(",", ":")).encode()
    secret = str(target.adapter.settings.get("app_secret") or "")
    headers = Headers(
        [(k, v) for k, v in raw.headers.items() if k.lower() not in ("x-hub-signature", "content-length")]
    )
    headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest(method=raw.method, url=raw.url, headers=headers, query=raw.query, body=body)


@bp.route("/meta", methods=["GET", "POST"])
def receive_app() -> tuple[Response, int] | Response:
    """Meta's subscription check (``GET``) and deliveries (``POST``) for every number, Page and Instagram account
    of an app: each change stored under the connection it is for (see the module docstring)."""
    rt = runtime()
    raw = incoming()
    candidates = _candidates(rt)
    if request.method == "GET":
        return _handshake(rt, raw, candidates)
    verified = _verified(rt, raw, candidates)
    if not verified:
        refusals.count(ADAPTER, "signature")
        return _error(401, f"{SIGNATURE_HEADER} is missing or matches the app secret of no Meta connection")
    parsed: list[tuple[_Target, WebhookRequest, ParsedWebhook]] = []
    try:
        payload = raw.json()
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "body must be a JSON object")
        dropped = _route(payload, verified)
        for target in verified:
            if not target.entries:
                continue
            share = _share(raw, payload, target)
            result = rt.plugins.parse_webhook(target.ref, share) or target.adapter.parse_webhook(share)
            parsed.append((target, share, result))
    except WebhookRejected as exc:
        refusals.count(ADAPTER, "invalid")
        return _error(exc.status, exc.reason)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, RecursionError) as exc:
        refusals.count(ADAPTER, "invalid")
        return _error(400, f"malformed payload: {type(exc).__name__}: {exc}")
    if dropped:
        obj = str(payload.get("object"))
        _count_unrouted(obj, dropped)
        log.warning("meta app webhook: %d %s change(s) for a number/account no connection owns; dropped", dropped, obj)
    routed: dict[str, Any] = {}
    for target, share, result in parsed:
        answer, status = accept(rt, "channel", target.ref.id, target.ref.adapter, share, result)
        if status != 200:
            return answer, status
        routed[str(target.ref.id)] = answer.get_json()
    return jsonify({"status": "accepted", "connections": routed, "dropped": dropped}), 200
