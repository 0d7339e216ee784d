"""WooCommerce webhooks: the creation ping, the signature check and the payload -> events translation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Mapping
from typing import Any

from connector.adapters import ParsedWebhook, WebhookReply, WebhookRequest
from connector.errors import WebhookRejected
from connector.model import ShopEvent, ShopEventKind
from connector.payload import check_shop_events

from .mapping import MappingError, order_from, parse_datetime

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"

_PING = re.compile(rb"^webhook_id=\d+$")


def sign(secret: str, body: bytes) -> str:
    """``base64(HMAC-SHA256(body, secret))`` as WooCommerce computes it (secret with HTML entities decoded)."""
    digest = hmac.new(html.unescape(secret).encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def ping_reply(request: WebhookRequest) -> WebhookReply | None:
    """WooCommerce POSTs an unsigned, form-encoded ``webhook_id=<id>`` when a webhook is created; answer 200."""
    if request.headers.get(SIGNATURE_HEADER) or request.headers.get(TOPIC_HEADER):
        return None
    if request.method == "POST" and _PING.match(request.body.strip()):
        return WebhookReply(status=200, body="ok")
    return None


def verify(request: WebhookRequest, secret: str) -> None:
    """Raise ``WebhookRejected(401)`` unless the signature matches the raw body."""
    given = request.headers.get(SIGNATURE_HEADER)
    if not given:
        raise WebhookRejected(401, f"missing {SIGNATURE_HEADER} header")
    if not hmac.compare_digest(given.strip().encode(), sign(secret, request.body).encode()):
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} does not match the body; check the webhook secret")


def _id(value: Any, where: str) -> str:
    """A WooCommerce post id (a positive integer, or its digits) as a string; ``ValueError`` otherwise."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ValueError(f"{where} is not a WooCommerce id: {value!r:.80}")
    return str(value)


def _product_events(action: str, body: Mapping[str, Any]) -> list[ShopEvent]:
    pid = _id(body["id"], "id")
    when = parse_datetime(body.get("date_modified_gmt"))
    if action == "deleted":
        return [ShopEvent(ShopEventKind.PRODUCT_DELETED, pid)]
    kind = body.get("type")
    if kind == "variable":
        listed = body.get("variations") or []
        if not isinstance(listed, list):
            raise ValueError(f"variations is not a list: {listed!r:.80}")
        variations = [_id(v, "variations[]") for v in listed]
        return [ShopEvent(ShopEventKind.PRODUCT_CHANGED, pid, variant_ids=variations, occurred_at=when)]
    # A simple product, or a variation (WooCommerce sends variations as product.updated with type "variation").
    product_id = _id(body.get("parent_id") or pid, "parent_id") if kind == "variation" else pid
    quantity = body.get("stock_quantity") if body.get("manage_stock") is True else None
    return [
        ShopEvent(ShopEventKind.PRODUCT_CHANGED, product_id, variant_ids=[pid], occurred_at=when),
        ShopEvent(
            ShopEventKind.STOCK_CHANGED,
            pid,
            variant_ids=[pid],
            stock_quantity=None if quantity is None else max(0, int(quantity)),
            occurred_at=when,
        ),
    ]


def _order_events(action: str, body: Mapping[str, Any]) -> list[ShopEvent]:
    oid = _id(body["id"], "id")
    if action == "deleted":
        # WooCommerce sends just ``{"id": N}`` (trashed or deleted for good): no order to map or fetch.
        return [ShopEvent(ShopEventKind.ORDER_DELETED, oid)]
    order = order_from(body)
    events = [ShopEvent(ShopEventKind.ORDER_CHANGED, oid, order=order, occurred_at=order.updated_at)]
    if order.fulfillments:
        latest = order.fulfillments[-1]
        events.append(
            ShopEvent(
                ShopEventKind.FULFILLMENT_CHANGED, oid, order=order, fulfillment=latest, occurred_at=order.updated_at
            )
        )
    return events


def parse(request: WebhookRequest) -> ParsedWebhook:
    """Turn a verified delivery into events; ``WebhookRejected(400)`` when it is not a WooCommerce payload."""
    topic = request.headers.get(TOPIC_HEADER) or ""
    resource, _, action = topic.partition(".")
    if not resource or not action:
        raise WebhookRejected(400, f"missing or malformed {TOPIC_HEADER} header: {topic!r}")
    body = request.json()
    if not isinstance(body, Mapping) or "id" not in body:
        raise WebhookRejected(400, "webhook body is not a WooCommerce resource (no id)")
    try:
        if resource == "product":
            events = _product_events(action, body)
        elif resource == "order":
            events = _order_events(action, body)
        else:
            events = []  # coupons, customers, custom action.* topics: nothing the connector acts on
    except (MappingError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise WebhookRejected(400, f"malformed {topic} payload: {exc}") from None
    return ParsedWebhook(delivery_id=delivery_id(request, topic), topic=topic, events=check_shop_events(events))


def delivery_id(request: WebhookRequest, topic: str) -> str:
    """The header plus a digest of the body.

    WooCommerce's ``X-WC-Webhook-Delivery-ID`` is ``wp_hash(webhook id . current second)``: two different
    changes sent by one webhook within the same second share it. The body digest keeps them apart while a
    re-sent delivery (same bytes) keeps its id.
    """
    header = request.headers.get(DELIVERY_HEADER) or topic
    return f"{header}:{hashlib.sha256(request.body).hexdigest()[:32]}"
