"""Per-day figures behind the overview's charts, for a chosen period, scoped to what the request's user may see.

Days are UTC days (like the rest of the overview). Every figure is read from what the connector stores anyway:
the outbox (messages by kind, cost), the chat orders (orders, revenue, paid), the back-in-stock subscriptions
(notified, converted) and the inbound messages (the funnel). Nothing is tracked only for the charts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from connector.api.scope import channel_visible, shop_visible
from connector.dashboard.queries import cost_days, start_of_today
from connector.db.models import InboundMessage, OutboundMessage
from connector.db.models_conversation import ChatOrder
from connector.db.models_notify import BackInStockSubscription, OrderNotification

if TYPE_CHECKING:
    from connector.runtime import Runtime

#: The periods the overview offers, in days.
PERIODS = (7, 30, 90)
#: An order within this long after a back-in-stock message counts as converted by it.
CONVERSION_WINDOW = timedelta(days=7)
#: At most this many inbound messages / orders are read for one funnel (newest first): a bound on the page's work.
MAX_ROWS = 20_000
#: The funnel's steps, in order (label keys for the template).
FUNNEL_STEPS = ("menu", "product", "cart", "order", "paid")
#: Taps that can only come from a product the customer was shown (buy, notify me).
_PRODUCT_TAPS = frozenset({"add", "BUY", "notify"})
#: Taps that put a product into the cart.
_CART_TAPS = frozenset({"add", "BUY"})


@dataclass(slots=True)
class Charts:
    """Everything the overview's charts show for one period."""

    days: list[str]
    #: kind -> one count per day
    messages: dict[str, list[int]]
    #: our estimate and Meta's billed figure, one value per day
    cost_estimate: list[float]
    cost_billed: list[float]
    orders: list[int]
    #: currency -> revenue per day (carts in several currencies are not added up)
    revenue: dict[str, list[float]]
    back_in_stock_sent: list[int]
    back_in_stock_converted: list[int]
    #: step -> distinct contacts, in :data:`FUNNEL_STEPS` order
    funnel: dict[str, int] = field(default_factory=dict)


def period_days(days: int) -> list[date]:
    """The ``days`` UTC days up to today, oldest first."""
    today = start_of_today().date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _day(value: Any) -> str:
    """A day key from what the database returns for ``date(...)`` (a date or an ISO string) or a datetime."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def _per_day(keys: list[str], counts: Mapping[str, float]) -> list[Any]:
    return [counts.get(key, 0) for key in keys]


def _revenue_of(cart: dict[str, Any] | None) -> tuple[str, Decimal]:
    """The currency and total of a chat order's stored cart (lines of ``variant, quantity, price``)."""
    total, currency = Decimal(0), ""
    for line in (cart or {}).get("lines") or []:
        price = line.get("price") if isinstance(line, dict) else None
        if not price:
            continue
        try:
            total += Decimal(str(price[0])) * int(line.get("quantity", 1))
        except (InvalidOperation, ValueError, TypeError, IndexError):
            continue
        currency = str(price[1]) if len(price) > 1 else currency
    return currency, total


def charts(rt: Runtime, days: int) -> Charts:
    """The overview's charts for the last ``days`` UTC days."""
    keys = [d.isoformat() for d in period_days(days)]
    since = start_of_today() - timedelta(days=days - 1)
    with rt.db.session() as session:
        messages: dict[str, dict[str, int]] = defaultdict(dict)
        by_kind: list[Any] = list(
            session.execute(
                select(func.date(OutboundMessage.created_at), OutboundMessage.kind, func.count())
                .where(OutboundMessage.created_at >= since, channel_visible(OutboundMessage.channel_connection_id))
                .group_by(func.date(OutboundMessage.created_at), OutboundMessage.kind)
            )
        )
        for day, kind, count in by_kind:
            messages[kind][_day(day)] = int(count)

        orders: dict[str, int] = defaultdict(int)
        revenue: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        created: list[Any] = list(
            session.execute(
                select(ChatOrder.created_at, ChatOrder.cart, ChatOrder.contact_id)
                .where(
                    ChatOrder.status == "created",
                    ChatOrder.created_at >= since - CONVERSION_WINDOW,
                    shop_visible(ChatOrder.shop_connection_id),
                )
                .order_by(ChatOrder.id.desc())
                .limit(MAX_ROWS)
            )
        )
        for created_at, cart, _contact in created:
            if created_at < since:
                continue
            key = _day(created_at)
            orders[key] += 1
            currency, total = _revenue_of(cart)
            revenue[currency or "?"][key] += float(total)

        sent: dict[str, int] = defaultdict(int)
        converted: dict[str, int] = defaultdict(int)
        orders_by_contact: dict[int, list[datetime]] = defaultdict(list)
        for created_at, _cart, contact_id in created:
            orders_by_contact[contact_id].append(created_at)
        notified: list[Any] = list(
            session.execute(
                select(BackInStockSubscription.contact_id, BackInStockSubscription.ended_at).where(
                    BackInStockSubscription.status == "notified",
                    BackInStockSubscription.ended_at >= since,
                    shop_visible(BackInStockSubscription.shop_connection_id),
                )
            )
        )
        for contact_id, ended_at in notified:
            key = _day(ended_at)
            sent[key] += 1
            if any(ended_at <= at <= ended_at + CONVERSION_WINDOW for at in orders_by_contact.get(contact_id, [])):
                converted[key] += 1

        funnel = _funnel(session, since)
    costs = {row["day"]: row for row in cost_days(rt, days)}
    return Charts(
        days=keys,
        messages={kind: _per_day(keys, counts) for kind, counts in sorted(messages.items())},
        cost_estimate=[float(costs[k]["estimate"]) if k in costs else 0.0 for k in keys],
        cost_billed=[float(costs[k]["reported"]) if k in costs else 0.0 for k in keys],
        orders=_per_day(keys, orders),
        revenue={currency: [round(v, 2) for v in _per_day(keys, per_day)] for currency, per_day in revenue.items()},
        back_in_stock_sent=_per_day(keys, sent),
        back_in_stock_converted=_per_day(keys, converted),
        funnel=funnel,
    )


def _funnel(session: Any, since: datetime) -> dict[str, int]:
    """Distinct contacts per step since ``since``: wrote to the bot (every conversation opens with the menu), were
    shown a product (wrote from one, or tapped buy / notify me on one), had a cart, ordered, and the shop reported
    the order paid or confirmed (its ``notify_orders`` rank reached ``order_confirmed``: status ``open`` or beyond,
    whatever the customer's consent to be told)."""
    steps: dict[str, set[int]] = {step: set() for step in FUNNEL_STEPS}
    for contact_id, kind, data in session.execute(
        select(InboundMessage.contact_id, InboundMessage.type, InboundMessage.data)
        .where(InboundMessage.received_at >= since, channel_visible(InboundMessage.channel_connection_id))
        .order_by(InboundMessage.id.desc())
        .limit(MAX_ROWS)
    ):
        steps["menu"].add(contact_id)
        data = data if isinstance(data, dict) else {}
        referral = data.get("referral") if isinstance(data.get("referral"), dict) else {}
        tap = str(data.get("reply_id") or "").partition(":")[0] if kind == "InboundReply" else ""
        if (referral or {}).get("product_retailer_id") or tap in _PRODUCT_TAPS or kind == "InboundCart":
            steps["product"].add(contact_id)
        if kind == "InboundCart" or tap in _CART_TAPS:
            steps["cart"].add(contact_id)
    for contact_id, paid in session.execute(
        select(ChatOrder.contact_id, OrderNotification.id)
        .outerjoin(
            OrderNotification,
            and_(
                OrderNotification.shop_connection_id == ChatOrder.shop_connection_id,
                OrderNotification.order_external_id == ChatOrder.order_external_id,
                # rank -1: the shop reported the order, still pending payment; 0 (order_confirmed) or later: paid.
                OrderNotification.rank >= 0,
            ),
        )
        .where(ChatOrder.status == "created", ChatOrder.created_at >= since, shop_visible(ChatOrder.shop_connection_id))
        .limit(MAX_ROWS)
    ):
        steps["order"].add(contact_id)
        if paid is not None:
            steps["paid"].add(contact_id)
    # A later step implies the earlier ones (an order placed from the shop's own cart link skipped "product").
    for later, earlier in zip(reversed(FUNNEL_STEPS), list(reversed(FUNNEL_STEPS))[1:], strict=False):
        steps[earlier] |= steps[later]
    return {step: len(steps[step]) for step in FUNNEL_STEPS}
