"""Shipping-status notifications: order events become one notification per order and status, never backwards.

The customer is told in the chat they bought in (a chat order, on WhatsApp, Messenger or Instagram), else on the
shop's WhatsApp number for the order's phone. An order's notification kind comes from its most advanced shipment
(or its status when the shop reports no shipments). ``notify_orders`` remembers the highest rank queued per order;
an event at or below it (a duplicate webhook, or one arriving out of order) queues nothing. The notification row
and the new rank commit together, and the idempotency key ``order:<shop>:<order>:<kind>`` stops a second row for
the same status.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from connector import model
from connector.db.models import OutboundMessage
from connector.db.models_notify import OrderNotification
from connector.errors import NotFound
from connector.notify.contacts import chat_language, contact_for_order, contact_for_typed_phone
from connector.notify.outbox import queue_notification, record_event

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

#: Notification kinds in the order an order moves through them.
RANKS = {
    "order_confirmed": 0,
    "order_shipped": 1,
    "order_out_for_delivery": 2,
    "order_delayed": 3,
    "order_delivery_failed": 4,
    "order_delivered": 5,
}
_BY_SHIPMENT = {
    model.ShipmentStatus.CONFIRMED: "order_confirmed",
    model.ShipmentStatus.LABEL_PRINTED: "order_confirmed",
    model.ShipmentStatus.IN_TRANSIT: "order_shipped",
    model.ShipmentStatus.OUT_FOR_DELIVERY: "order_out_for_delivery",
    model.ShipmentStatus.DELAYED: "order_delayed",
    model.ShipmentStatus.FAILED: "order_delivery_failed",
    model.ShipmentStatus.DELIVERED: "order_delivered",
}
_BY_STATUS = {
    model.OrderStatus.OPEN: "order_confirmed",
    model.OrderStatus.FULFILLED: "order_shipped",
    model.OrderStatus.COMPLETED: "order_delivered",
}


def kind_for(order: model.Order) -> tuple[str | None, model.Fulfillment | None]:
    """The notification an order's current state calls for, and the shipment it is about."""
    if order.status in (model.OrderStatus.CANCELLED, model.OrderStatus.REFUNDED, model.OrderStatus.PENDING):
        return None, None
    if order.fulfillments:
        shipment = max(order.fulfillments, key=lambda f: f.status.rank)
        return _BY_SHIPMENT[shipment.status], shipment
    return _BY_STATUS.get(order.status), None


def variables_for(order: model.Order, shipment: model.Fulfillment | None) -> dict[str, Any]:
    """What the texts and templates of a shipping notification can use."""
    return {
        "name": order.customer.first_name,
        "number": order.number,
        "total": str(order.total.amount),
        "currency": order.total.currency,
        "carrier": shipment.tracking_company if shipment else None,
        "tracking_number": shipment.tracking_number if shipment else None,
        "tracking_url": shipment.tracking_url if shipment else None,
        "order_id": order.external_id,
        # The customer's country (billing, else shipping): where a Messenger utility message may go.
        "country": order.customer.country_code
        or (order.shipping_address.country_code if order.shipping_address else None)
        or None,
    }


def on_order(rt: Runtime, shop_connection_id: int, order: model.Order) -> int | None:
    """Queue the notification ``order`` calls for, unless it (or a later one) was queued before."""
    if not rt.config.notify.shipping_enabled:
        return None
    kind, shipment = kind_for(order)
    finished = order.status in (model.OrderStatus.CANCELLED, model.OrderStatus.REFUNDED) or kind == "order_delivered"
    now = datetime.now(UTC)
    with rt.db.session() as session:
        query = select(OrderNotification).where(
            OrderNotification.shop_connection_id == shop_connection_id,
            OrderNotification.order_external_id == order.external_id,
        )
        if rt.db.is_postgres:
            query = query.with_for_update()
        ledger = session.scalar(query)
        if ledger is None:
            ledger = OrderNotification(
                shop_connection_id=shop_connection_id, order_external_id=order.external_id, rank=-1, in_flight=True
            )
            session.add(ledger)
        ledger.updated_at = now
        ledger.in_flight = not finished
        if kind is None or RANKS[kind] <= ledger.rank:
            return None  # nothing to say, a duplicate, or older news than what the customer already has
        ledger.rank, ledger.last_kind = RANKS[kind], kind
        customer = order.customer
        # Bought in chat: told in that chat (Messenger and Instagram have no phone number to go by).
        contact = contact_for_order(session, shop_connection_id, order.external_id, order.reference)
        language = chat_language(session, contact) if contact is not None else None
        if contact is None:
            contact = contact_for_typed_phone(
                session,
                shop_connection_id,
                customer.phone,
                customer.country_code,
                name=customer.name,
                locale=customer.locale,
            )
        if contact is None:
            log.info("order %s: not bought in chat and no WhatsApp number to notify (%s)", order.number, kind)
            return None
        return queue_notification(
            rt,
            session,
            contact=contact,
            kind=kind,
            purpose="utility",
            variables=variables_for(order, shipment),
            idempotency_key=f"order:{shop_connection_id}:{order.external_id}:{kind}",
            language=language,
        )


def reconcile(rt: Runtime) -> int:
    """Poll the shop for orders still in flight (missed webhooks); returns how many orders were checked."""
    cutoff = datetime.now(UTC) - timedelta(days=rt.config.notify.reconcile_max_age_days)
    with rt.db.session() as session:
        rows = session.execute(
            select(OrderNotification.shop_connection_id, OrderNotification.order_external_id).where(
                OrderNotification.in_flight.is_(True), OrderNotification.created_at > cutoff
            )
        ).all()
    checked = 0
    for shop_id, order_id in rows:
        try:
            order = rt.connections.shop_adapter(shop_id).get_order(order_id)
        except NotFound:
            # Deleted for good in the shop: stop polling it (asked once, not on every run).
            log.info("reconcile: order %s (shop %s) no longer exists; no longer followed", order_id, shop_id)
            on_order_deleted(rt, shop_id, order_id)
            continue
        except Exception as exc:  # one shop being down must not stop the others
            log.warning("reconcile of order %s (shop %s) failed: %s", order_id, shop_id, exc)
            continue
        on_order(rt, shop_id, order)
        checked += 1
    return checked


#: Why the notifications still waiting for a deleted order are not sent.
DELETED_REASON = "the order was deleted in the shop"


def on_order_deleted(rt: Runtime, shop_connection_id: int, order_external_id: str) -> int:
    """The shop deleted the order: stop following it and skip its notifications not sent yet.

    Returns how many waiting notifications were skipped. Safe to repeat (a redelivered ``order.deleted``, a
    later 404); an order restored in the shop is followed again by its next update."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        ledger = session.scalar(
            select(OrderNotification).where(
                OrderNotification.shop_connection_id == shop_connection_id,
                OrderNotification.order_external_id == order_external_id,
            )
        )
        if ledger is not None:
            ledger.in_flight, ledger.updated_at = False, now
        # Only rows no worker holds: one being sent right now finishes as it is.
        waiting = list(
            session.scalars(
                update(OutboundMessage)
                .where(
                    OutboundMessage.idempotency_key.in_(
                        [f"order:{shop_connection_id}:{order_external_id}:{kind}" for kind in RANKS]
                    ),
                    OutboundMessage.status.in_(("pending", "deferred")),
                )
                .values(status="skipped", reason=DELETED_REASON, deferred_until=None)
                .returning(OutboundMessage.id)
            )
        )
        for message_id in waiting:
            record_event(session, message_id, "skipped", DELETED_REASON)
    return len(waiting)
