"""My orders, looking an order up by number (only with proof of ownership), and choosing an order to re-address.

A contact owns an order when the order's phone is the contact's phone (WhatsApp), when it was placed
in this chat, or when the contact proved it once by giving the order's delivery postcode or email
(remembered in the conversation state). Nobody else ever sees an order's details.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import select

from connector import model
from connector.conversation.replies import short
from connector.db.models_conversation import ChatOrder
from connector.errors import NotFound

if TYPE_CHECKING:
    from connector.conversation.intents import ChatContext

ORDER_NUMBER = re.compile(r"^(?:order|bestellung|nr\.?|no\.?)?\s*#?\s*(\d{3,12})$", re.IGNORECASE)
_CLOSED = (model.OrderStatus.CANCELLED, model.OrderStatus.REFUNDED)


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


def owned_orders(ctx: ChatContext) -> list[model.Order]:
    """The contact's recent orders, newest first (at most ``[chat] recent_orders``)."""
    adapter = ctx.shop()
    limit = ctx.runtime.config.chat.recent_orders
    found: dict[str, model.Order] = {}
    if ctx.contact.phone:
        for order in adapter.find_orders(phone=ctx.contact.phone, limit=limit):
            found[order.external_id] = order
    with ctx.runtime.db.session() as session:
        placed = list(
            session.scalars(
                select(ChatOrder.order_external_id)
                .where(ChatOrder.contact_id == ctx.contact_id, ChatOrder.status == "created")
                .order_by(ChatOrder.id.desc())
                .limit(limit)
            )
        )
    for external_id in [*placed, *ctx.conversation.verified_orders]:
        if external_id and external_id not in found:
            try:
                found[external_id] = adapter.get_order(external_id)
            except NotFound:
                continue
    orders = list(found.values())
    orders.sort(key=lambda o: (o.created_at is not None, o.created_at), reverse=True)
    return orders[:limit]


def describe(ctx: ChatContext, order: model.Order) -> dict[str, str]:
    """What the customer sees of an order: number, date, status, total, tracking link."""
    status = ctx.t(f"status_{order.status.value}")
    tracking = ""
    for fulfillment in order.fulfillments:
        if fulfillment.tracking_url or fulfillment.tracking_number:
            tracking = fulfillment.tracking_url or f"{fulfillment.tracking_company or ''} {fulfillment.tracking_number}"
            status = ctx.t("status_fulfilled") if order.status is model.OrderStatus.OPEN else status
    if order.shipped and order.status in (model.OrderStatus.PENDING, model.OrderStatus.OPEN):
        status = ctx.t("status_fulfilled")
    date = ctx.day(order.created_at)
    return {
        "number": order.number,
        "date": date,
        "status": status,
        "total": ctx.money(order.total),
        "tracking": tracking.strip(),
    }


def my_orders(ctx: ChatContext) -> list[model.Outbound]:
    """The contact's recent orders with status and tracking."""
    orders = owned_orders(ctx)
    if not orders:
        ctx.conversation.start("lookup", "number", ctx.runtime.config.chat.flow_timeout_minutes)
        return [model.TextMessage(ctx.t("orders_none"))]
    return [model.TextMessage(ctx.t("orders_list", orders=[describe(ctx, o) for o in orders]))]


def _owns(ctx: ChatContext, order: model.Order) -> bool:
    if order.external_id in ctx.conversation.verified_orders:
        return True
    if ctx.contact.phone and _digits(order.customer.phone) == _digits(ctx.contact.phone):
        return True
    with ctx.runtime.db.session() as session:
        return (
            session.scalar(
                select(ChatOrder.id).where(
                    ChatOrder.contact_id == ctx.contact_id, ChatOrder.order_external_id == order.external_id
                )
            )
            is not None
        )


def lookup(ctx: ChatContext, number: str, then: str | None = None) -> list[model.Outbound]:
    """Order ``number``: shown to its owner; anyone else is asked for the postcode or email on it first.

    ``then="address"`` continues with an address change once ownership is clear."""
    adapter = ctx.shop()
    matches = [o for o in adapter.find_orders(number=number, limit=1) if o.number.lstrip("#") == number.lstrip("#")]
    if not matches:
        ctx.conversation.clear()
        return [model.TextMessage(ctx.t("lookup_not_found", number=number))]
    order = matches[0]
    if _owns(ctx, order):
        ctx.conversation.clear()
        return _shown(ctx, order, then)
    ctx.conversation.start(
        "lookup",
        "proof",
        ctx.runtime.config.chat.flow_timeout_minutes,
        order_id=order.external_id,
        number=order.number,
        then=then,
    )
    return [model.TextMessage(ctx.t("lookup_proof", number=order.number))]


def _shown(ctx: ChatContext, order: model.Order, then: str | None) -> list[model.Outbound]:
    if then == "address":
        return address_for(ctx, order)
    return [model.TextMessage(ctx.t("order_detail", o=describe(ctx, order)))]


def proof(ctx: ChatContext, text: str) -> list[model.Outbound]:
    """The answer to "postcode or email?": show the order when it matches, refuse when it does not."""
    data = dict(ctx.conversation.data)
    ctx.conversation.clear()
    adapter = ctx.shop()
    try:
        order = adapter.get_order(data["order_id"])
    except NotFound:
        return [model.TextMessage(ctx.t("lookup_not_found", number=data["number"]))]
    given = text.strip().casefold()
    postcode = (order.shipping_address.postcode if order.shipping_address else "").replace(" ", "").casefold()
    email = (order.customer.email or "").strip().casefold()
    if given and ((postcode and given.replace(" ", "") == postcode) or (email and given == email)):
        ctx.conversation.verified_orders = [*ctx.conversation.verified_orders, order.external_id][-20:]
        return _shown(ctx, order, data.get("then"))
    return [model.TextMessage(ctx.t("lookup_refused", number=data["number"]))]


def choose_for_address(ctx: ChatContext) -> list[model.Outbound]:
    """Start an address change: the only candidate order directly, or a list to choose from."""
    orders = [o for o in owned_orders(ctx) if o.status not in _CLOSED]
    if not orders:
        ctx.conversation.start("lookup", "number", ctx.runtime.config.chat.flow_timeout_minutes, then="address")
        return [model.TextMessage(ctx.t("address_no_orders"))]
    if len(orders) == 1:
        return address_for(ctx, orders[0])
    rows = [
        model.ListRow(f"addr_order:{o.external_id}", short(o.number), short(describe(ctx, o)["status"], 72))
        for o in orders
    ]
    return [
        model.ListMessage(
            body=ctx.t("address_pick_order"),
            button=short(ctx.t("address_pick_button")),
            sections=[model.ListSection("-", rows)],
        )
    ]


def address_for(ctx: ChatContext, order: model.Order) -> list[model.Outbound]:
    """Start collecting a new address for ``order``, or say it is too late when it shipped."""
    from connector.conversation import address, forms
    from connector.conversation.replies import agent_offer

    if order.shipped:
        ctx.conversation.clear()
        return [agent_offer(ctx, ctx.t("address_too_late", number=order.number))]
    form = forms.ask_address(ctx, order=order)
    if form is not None:
        return form
    return address.start(ctx, purpose="change", order_id=order.external_id, number=order.number)


def picked_for_address(ctx: ChatContext, order_id: str) -> list[model.Outbound]:
    """The customer picked an order from the address list (only their own orders are accepted)."""
    adapter = ctx.shop()
    try:
        order = adapter.get_order(order_id)
    except NotFound:
        return [model.TextMessage(ctx.t("lookup_not_found", number=order_id))]
    if not _owns(ctx, order):
        return [model.TextMessage(ctx.t("lookup_refused", number=order.number))]
    return address_for(ctx, order)
