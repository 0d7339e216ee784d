"""Shopware app webhooks: the ``shopware-shop-signature`` check and the events they carry.

A delivery looks like ``{"data": {"payload": ..., "event": "product.written"}, "source": {"url",
"appVersion", "shopId", "eventId"}, "timestamp": ...}``. ``source.eventId`` stays the same when
Shopware retries, so it is the delivery id. Entity-written payloads carry only ids and field names;
business events (``checkout.order.placed``, ``state_enter.*``) carry the whole order.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from connector_shopware.orders import fulfillment, to_order

from connector.adapters import ParsedWebhook, WebhookRequest
from connector.errors import WebhookRejected
from connector.model import ShopEvent, ShopEventKind
from connector.payload import check_shop_events
from connector.timestamps import OutOfRange, from_epoch

SIGNATURE_HEADER = "shopware-shop-signature"
#: Product fields whose change is only a stock change.
STOCK_FIELDS = frozenset({"stock", "availableStock", "available", "sales", "isCloseout"})
BOOKKEEPING_FIELDS = frozenset({"id", "versionId", "updatedAt", "autoIncrement"})


def verify(request: WebhookRequest, secret: str) -> None:
    """Raise ``WebhookRejected(401)`` unless the body is signed with ``secret``."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise WebhookRejected(401, f"missing {SIGNATURE_HEADER} header")
    if not secret:
        raise WebhookRejected(401, "no webhook secret configured for this Shopware connection")
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise WebhookRejected(
            401, f"{SIGNATURE_HEADER} does not match the body (wrong app secret, or the body was altered)"
        )


def _primary_keys(payload: Any) -> list[dict[str, Any]]:
    items = payload if isinstance(payload, list) else [payload]
    result = []
    for item in items:
        if not isinstance(item, dict):
            raise WebhookRejected(400, f"payload entry is not an object: {item!r}")
        key = item.get("primaryKey")
        if isinstance(key, dict):  # mapping entities have composite keys
            key = key.get("id") or key.get("productId")
        if not isinstance(key, str) or not key:
            raise WebhookRejected(400, f"payload entry has no primaryKey: {item!r}")
        result.append({**item, "primaryKey": key})
    return result


def _product_events(event: str, payload: Any, at: datetime | None) -> list[ShopEvent]:
    events = []
    for item in _primary_keys(payload):
        if item.get("entity") not in (None, "product"):
            continue
        key = item["primaryKey"]
        operation = str(item.get("operation") or "update")
        if event == "product.deleted" or operation in ("delete", "deleted"):
            events.append(ShopEvent(ShopEventKind.PRODUCT_DELETED, key, variant_ids=[key], occurred_at=at))
            continue
        fields = set(item.get("updatedFields") or []) - BOOKKEEPING_FIELDS
        if operation == "update" and fields and fields <= STOCK_FIELDS:
            events.append(ShopEvent(ShopEventKind.STOCK_CHANGED, key, variant_ids=[key], occurred_at=at))
        else:
            events.append(ShopEvent(ShopEventKind.PRODUCT_CHANGED, key, occurred_at=at))
    return events


def _order_event(event: str, payload: Any, at: datetime | None, payment_base_url: str | None) -> list[ShopEvent]:
    data = payload.get("order") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or not data.get("id"):
        raise WebhookRejected(400, f"{event} payload has no order")
    try:
        order = to_order(data, payment_base_url=payment_base_url)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise WebhookRejected(400, f"{event} order could not be read: {exc}") from None
    if event.startswith("state_enter.order_delivery.") or event.startswith("state_leave.order_delivery."):
        state = event.rsplit(".", 1)[-1]
        deliveries = data.get("deliveries") or []
        matching = [fulfillment(data, d) for d in deliveries if _delivery_state(d) in (None, state)]
        chosen = matching[0] if matching else (order.fulfillments[0] if order.fulfillments else None)
        return [
            ShopEvent(
                ShopEventKind.FULFILLMENT_CHANGED, order.external_id, order=order, fulfillment=chosen, occurred_at=at
            )
        ]
    return [ShopEvent(ShopEventKind.ORDER_CHANGED, order.external_id, order=order, occurred_at=at)]


def _delivery_state(delivery: dict[str, Any]) -> str | None:
    return (delivery.get("stateMachineState") or {}).get("technicalName")


def parse(request: WebhookRequest, *, payment_base_url: str | None = None) -> ParsedWebhook:
    """A verified delivery as canonical events. Raises ``WebhookRejected(400)`` when it is not Shopware's shape."""
    body = request.json()
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict) or not isinstance(body.get("source"), dict):
        raise WebhookRejected(400, "not a Shopware webhook: expected data and source objects")
    event = body["data"].get("event")
    if not isinstance(event, str) or not event:
        raise WebhookRejected(400, "data.event is missing")
    event_id = body["source"].get("eventId")
    # eventId exists since 6.4.11; older shops get a digest of the body, which a retry repeats exactly.
    delivery_id = str(event_id) if event_id else "sha256:" + hashlib.sha256(request.body).hexdigest()
    timestamp = body.get("timestamp")
    try:
        # Signed with the body: when Shopware sent it (retries repeat it), the replay guard's clock.
        at = from_epoch(timestamp) if isinstance(timestamp, int | float) else None
    except OutOfRange:
        raise WebhookRejected(400, f"timestamp is out of range: {timestamp!r}") from None
    payload = body["data"].get("payload")
    if event in ("product.written", "product.deleted"):
        events = _product_events(event, payload, at)
    elif event == "order.written":
        events = [
            ShopEvent(ShopEventKind.ORDER_CHANGED, item["primaryKey"], occurred_at=at)
            for item in _primary_keys(payload)
            if item.get("entity") in (None, "order")
        ]
    elif event == "checkout.order.placed" or event.startswith(("state_enter.order", "state_leave.order")):
        events = _order_event(event, payload, at, payment_base_url)
    elif event == "app.deleted":
        events = [ShopEvent(ShopEventKind.APP_UNINSTALLED, str(body["source"].get("shopId") or ""), occurred_at=at)]
    else:
        events = []  # an event we did not subscribe to: acknowledged, nothing to do
    return ParsedWebhook(delivery_id=delivery_id, topic=event, events=check_shop_events(events), sent_at=at)
