"""Checks on the canonical events a webhook parser built, before the delivery is stored.

A parser turns whatever the platform sent into :class:`~connector.model.ShopEvent`\\ s; a value of the wrong type
that slips through (an id that is a list, a 20-digit quantity) is accepted with a 200 and then fails the worker's
``webhook.process`` task (or the catalog sync it starts) on every one of its retries. Shop plugins pass their
events through :func:`check_shop_events` at the end of parsing, channel plugins theirs through
:func:`check_channel_events`, so such a delivery gets a 400 with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connector import model
from connector.errors import WebhookRejected
from connector.timestamps import EARLIEST, LATEST

#: Ids are stored in ``String(255)`` columns.
MAX_ID_LENGTH = 255
#: Quantities are stored in 32-bit ``INTEGER`` columns.
MAX_QUANTITY = 2**31 - 1


#: Events about the whole shop (or a person), not one object: their id may be empty.
_SHOP_WIDE = (
    model.ShopEventKind.APP_UNINSTALLED,
    model.ShopEventKind.CUSTOMER_DATA_REQUEST,
    model.ShopEventKind.CUSTOMER_REDACT,
    model.ShopEventKind.SHOP_REDACT,
)


def check_shop_events(events: Sequence[model.ShopEvent]) -> list[model.ShopEvent]:
    """``events`` as a list when every id is a string that fits its column and every number and time is in range;
    raises ``WebhookRejected(400)`` naming the first value that is not."""
    for i, event in enumerate(events):
        where = f"event {i} ({event.kind})"
        _id(event.object_id, f"{where} id", empty=event.kind in _SHOP_WIDE)
        if not isinstance(event.variant_ids, list):
            raise WebhookRejected(400, f"{where}: variant ids are not a list")
        for variant_id in event.variant_ids:
            _id(variant_id, f"{where} variant id")
        if event.stock_quantity is not None:
            _quantity(event.stock_quantity, f"{where} stock quantity", negative=True)
        _time(event.occurred_at, f"{where} time")
        if event.fulfillment is not None:
            _id(event.fulfillment.external_id, f"{where} fulfillment id")
            _time(event.fulfillment.updated_at, f"{where} fulfillment time")
        if event.order is not None:
            check_order(event.order, f"{where} order")
        if event.checkout is not None:
            check_checkout(event.checkout, f"{where} checkout")
    return list(events)


def check_checkout(checkout: model.Checkout, where: str = "checkout") -> None:
    """Raise ``WebhookRejected(400)`` unless the checkout's ids, quantities, times and link are storable."""
    _id(checkout.external_id, f"{where} id")
    if not isinstance(checkout.name, str) or len(checkout.name) > MAX_ID_LENGTH:
        raise WebhookRejected(400, f"{where} name is no short text: {checkout.name!r:.80}")
    for n, line in enumerate(checkout.lines):
        _id(line.variant_external_id, f"{where} line {n} variant id", empty=True)
        _quantity(line.quantity, f"{where} line {n} quantity")
    url = checkout.recovery_url
    if url is not None and (not isinstance(url, str) or len(url) > 2048):
        raise WebhookRejected(400, f"{where} recovery link is too long")
    for label, moment in (("creation", checkout.created_at), ("update", checkout.updated_at)):
        _time(moment, f"{where} {label} time")
    _time(checkout.completed_at, f"{where} completion time")


def check_order(order: model.Order, where: str = "order") -> None:
    """Raise ``WebhookRejected(400)`` unless the order's ids, quantities and times are storable."""
    _id(order.external_id, f"{where} id")
    if not isinstance(order.number, str) or len(order.number) > MAX_ID_LENGTH:
        raise WebhookRejected(400, f"{where} number is no short text: {order.number!r}")
    for n, line in enumerate(order.lines):
        _id(line.variant_external_id, f"{where} line {n} variant id", empty=True)
        _quantity(line.quantity, f"{where} line {n} quantity")
    for fulfillment in order.fulfillments:
        _id(fulfillment.external_id, f"{where} fulfillment id")
        _time(fulfillment.updated_at, f"{where} fulfillment time")
    _time(order.created_at, f"{where} creation time")
    _time(order.updated_at, f"{where} update time")


def _id(value: Any, where: str, *, empty: bool = False, limit: int = MAX_ID_LENGTH) -> None:
    if not isinstance(value, str) or len(value) > limit or not (value or empty):
        raise WebhookRejected(400, f"{where} is not an id: {value!r:.80}")


def _quantity(value: Any, where: str, *, negative: bool = False) -> None:
    low = -MAX_QUANTITY if negative else 0
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_QUANTITY:
        raise WebhookRejected(400, f"{where} is out of range: {value!r:.80}")


def _time(value: datetime | None, where: str) -> None:
    if value is not None and not EARLIEST <= (value if value.tzinfo else value.replace(tzinfo=UTC)) < LATEST:
        raise WebhookRejected(400, f"{where} is out of range: {value!r}")


#: ``contacts`` column widths.
MAX_USER_ID_LENGTH = 128
MAX_PHONE_LENGTH = 32
MAX_NAME_LENGTH = 200


def check_channel_events(events: Sequence[Any]) -> list[Any]:
    """``events`` (inbound messages and delivery statuses) as a list when their ids fit their columns; raises
    ``WebhookRejected(400)`` otherwise. A sender's display name longer than its column is cut (a name is no reason
    to refuse a customer's message)."""
    for i, event in enumerate(events):
        where = f"event {i} ({type(event).__name__})"
        if isinstance(event, model.Inbound):
            _id(event.message_id, f"{where} message id")
            sender = event.sender
            _id(sender.channel_user_id, f"{where} sender id", limit=MAX_USER_ID_LENGTH)
            if sender.phone is not None:
                _id(sender.phone, f"{where} sender phone", limit=MAX_PHONE_LENGTH)
            sender.name = sender.name[:MAX_NAME_LENGTH]
        elif isinstance(event, model.DeliveryStatus):
            _id(event.message_id, f"{where} message id", empty=True)
            _id(event.recipient_id, f"{where} recipient id", limit=MAX_USER_ID_LENGTH)
        _time(getattr(event, "timestamp", None), f"{where} time")
    return list(events)
