"""What chat earned: each paid shop order is credited to the last chat touch within ``attribution_window_days``.

A touch is a message the customer got from us that reached them (a campaign, a recovery reminder, a back-in-stock
alert, a shipping update, an answer in a conversation) or a message they wrote us (a conversation). The order is
recorded once (unique per shop and order) the first time the shop reports it paid (open, fulfilled or completed),
with its lines (segments filter on what was bought), in the transaction that credits it; a Conversions API event
is added in the same transaction when the customer came from a click-to-WhatsApp ad
(:mod:`connector.campaigns.conversions`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError

from connector import model
from connector.db.models import ChannelConnection, Contact, InboundMessage, OutboundMessage, ShopVariant
from connector.db.models_sales import SalesOrder, SalesOrderLine
from connector.notify.contacts import contact_for_order, digits
from connector.phones import read_phone

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.core import Metric
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

PAID = (model.OrderStatus.OPEN, model.OrderStatus.FULFILLED, model.OrderStatus.COMPLETED)
#: Outbox states of a message that reached (or was handed to) the customer.
REACHED = ("sent", "delivered", "read")
SOURCES = ("campaign", "recovery", "back_in_stock", "shipping", "conversation")
#: A message's cost: nothing when the channel reported it not billable (a free entry point), else the estimate.
BILLED = case((OutboundMessage.billable.is_(False), 0.0), else_=func.coalesce(OutboundMessage.cost, 0.0))


def source_of(kind: str, notification: bool) -> str:
    """The source a message of ``kind`` is credited as."""
    if kind == "campaign":
        return "campaign"
    if kind.startswith(("recovery", "checkout", "abandoned")):
        return "recovery"
    if kind == "back_in_stock":
        return "back_in_stock"
    if kind.startswith("order_"):
        return "shipping"
    return "conversation" if not notification else kind[:32]


def customer_contacts(session: Session, shop_connection_id: int, order: model.Order) -> list[int]:
    """The order's customer among our contacts: who placed it in chat, and the shop's WhatsApp contacts with its
    phone number. Nobody is created."""
    found: list[int] = []
    chat = contact_for_order(session, shop_connection_id, order.external_id, order.reference)
    if chat is not None:
        found.append(chat.id)
    reading = read_phone(order.customer.phone, order.customer.country_code) if order.customer.phone else None
    if reading is not None and reading.e164 is not None:
        number = digits(reading.e164)
        found += [
            c
            for c in session.scalars(
                select(Contact.id)
                .join(ChannelConnection, ChannelConnection.id == Contact.channel_connection_id)
                .where(
                    ChannelConnection.shop_connection_id == shop_connection_id,
                    or_(Contact.channel_user_id == number, Contact.phone == "+" + number),
                )
            )
            if c not in found
        ]
    return found


def last_touch(
    session: Session, contacts: list[int], shop_connection_id: int, order_external_id: str, at: datetime, days: float
) -> dict[str, Any] | None:
    """The last chat touch of ``contacts`` in the window before ``at``: ``{source, contact_id, message_id,
    campaign_id, at}``. Notifications about this very order are no touch that led to it."""
    if not contacts:
        return None
    since = at - timedelta(days=days)
    own = f"order:{shop_connection_id}:{order_external_id}:"
    sent = session.execute(
        select(
            OutboundMessage.id,
            OutboundMessage.contact_id,
            OutboundMessage.kind,
            OutboundMessage.notification.is_not(None),
            OutboundMessage.campaign_id,
            OutboundMessage.sent_at,
        )
        .where(
            OutboundMessage.contact_id.in_(contacts),
            OutboundMessage.status.in_(REACHED),
            OutboundMessage.sent_at >= since,
            OutboundMessage.sent_at <= at,
            OutboundMessage.idempotency_key.not_like(own + "%"),
        )
        .order_by(OutboundMessage.sent_at.desc(), OutboundMessage.id.desc())
        .limit(1)
    ).first()
    wrote = session.execute(
        select(InboundMessage.contact_id, InboundMessage.received_at)
        .where(
            InboundMessage.contact_id.in_(contacts),
            InboundMessage.received_at >= since,
            InboundMessage.received_at <= at,
        )
        .order_by(InboundMessage.received_at.desc())
        .limit(1)
    ).first()
    if sent is not None and (wrote is None or sent.sent_at >= wrote.received_at):
        message_id, contact_id, kind, notification, campaign_id, sent_at = sent
        return {
            "source": source_of(kind, bool(notification)),
            "contact_id": contact_id,
            "message_id": message_id,
            "campaign_id": campaign_id,
            "at": sent_at,
        }
    if wrote is not None:
        return {
            "source": "conversation",
            "contact_id": wrote.contact_id,
            "message_id": None,
            "campaign_id": None,
            "at": wrote.received_at,
        }
    return None


def record_paid(rt: Runtime, shop_connection_id: int, order: model.Order, now: datetime | None = None) -> int | None:
    """Record a paid order and credit it (once per order); returns the new record's id, ``None`` when the order is
    not paid or was recorded before."""
    if order.status not in PAID:
        return None
    now = now or datetime.now(UTC)
    from connector.campaigns import conversions

    try:
        with rt.db.session() as session:
            exists = session.scalar(
                select(SalesOrder.id).where(
                    SalesOrder.shop_connection_id == shop_connection_id,
                    SalesOrder.order_external_id == order.external_id,
                )
            )
            if exists is not None:
                return None
            contacts = customer_contacts(session, shop_connection_id, order)
            touch = last_touch(
                session, contacts, shop_connection_id, order.external_id, now, rt.config.notify.attribution_window_days
            )
            row = SalesOrder(
                shop_connection_id=shop_connection_id,
                order_external_id=order.external_id,
                number=order.number[:64],
                contact_id=touch["contact_id"] if touch else (contacts[0] if contacts else None),
                total=float(order.total.amount),
                currency=order.total.currency.upper()[:3],
                paid_at=now,
                source=touch["source"] if touch else None,
                campaign_id=touch["campaign_id"] if touch else None,
                message_id=touch["message_id"] if touch else None,
                touched_at=touch["at"] if touch else None,
            )
            session.add(row)
            session.flush()
            products = dict(
                session.execute(
                    select(ShopVariant.external_id, ShopVariant.product_external_id).where(
                        ShopVariant.shop_connection_id == shop_connection_id,
                        ShopVariant.external_id.in_([line.variant_external_id for line in order.lines]),
                    )
                ).all()
            )
            session.add_all(
                SalesOrderLine(
                    order_id=row.id,
                    variant_external_id=line.variant_external_id,
                    product_external_id=products.get(line.variant_external_id, line.variant_external_id),
                    quantity=line.quantity,
                )
                for line in order.lines
            )
            conversions.queue_for_order(rt, session, row, contacts, now)
            return row.id
    except IntegrityError:
        return None  # another process recorded the same order at the same moment


def _number(value: Any) -> float:
    """A SUM's value (``None`` for no rows) as a float."""
    return float(value or 0.0)


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def earned(session: Session, shop_ids: list[int], since: datetime, until: datetime) -> dict[str, Any]:
    """Revenue and orders by source per day and per campaign, with the cost of the messages of each source in the
    same period (return on spend = revenue / cost) for the shops ``shop_ids`` (the request's visible ones)."""
    period = (SalesOrder.paid_at >= since, SalesOrder.paid_at < until, SalesOrder.shop_connection_id.in_(shop_ids))
    day = func.date(SalesOrder.paid_at)
    by_day: list[dict[str, Any]] = [
        {
            "day": _day(d),
            "source": source or "none",
            "orders": n,
            "revenue": round(_number(revenue), 2),
            "currency": currency,
        }
        for d, source, currency, n, revenue in session.execute(
            select(day, SalesOrder.source, SalesOrder.currency, func.count(), func.sum(SalesOrder.total))
            .where(*period)
            .group_by(day, SalesOrder.source, SalesOrder.currency)
            .order_by(day, SalesOrder.source)
        )
    ]
    totals: dict[str, dict[str, Any]] = {}
    for row in by_day:
        entry = totals.setdefault(row["source"], {"source": row["source"], "orders": 0, "revenue": 0.0})
        entry["orders"] += row["orders"]
        entry["revenue"] = round(entry["revenue"] + row["revenue"], 2)
    visible_channels = select(ChannelConnection.id).where(ChannelConnection.shop_connection_id.in_(shop_ids))
    costs = _costs(session, visible_channels, since, until)
    for source, entry in totals.items():
        cost = costs.get(source, 0.0)
        entry["cost"] = round(cost, 4)
        entry["return_on_spend"] = round(entry["revenue"] / cost, 2) if cost > 0 else None
    campaigns = _by_campaign(session, period, visible_channels, since, until)
    return {
        "by_day": by_day,
        "by_source": sorted(totals.values(), key=lambda e: -e["revenue"]),
        "by_campaign": campaigns,
    }


def _costs(session: Session, channels: Any, since: datetime, until: datetime) -> dict[str, float]:
    """Estimated cost of the messages sent in the period, by the source they would be credited as."""
    found: dict[str, float] = {}
    for kind, notification, cost in session.execute(
        select(OutboundMessage.kind, OutboundMessage.notification.is_not(None), func.sum(BILLED))
        .where(
            OutboundMessage.channel_connection_id.in_(channels),
            OutboundMessage.sent_at >= since,
            OutboundMessage.sent_at < until,
            OutboundMessage.status.in_(REACHED),
        )
        .group_by(OutboundMessage.kind, OutboundMessage.notification.is_not(None))
    ):
        source = source_of(str(kind), bool(notification))
        found[source] = found.get(source, 0.0) + _number(cost)
    return found


def _by_campaign(
    session: Session, period: Any, channels: Any, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    from connector.db.models_sales import Campaign

    revenue: dict[int, tuple[int, float]] = {
        int(str(campaign_id)): (int(n), _number(total))
        for campaign_id, n, total in session.execute(
            select(SalesOrder.campaign_id, func.count(), func.sum(SalesOrder.total))
            .where(*period, SalesOrder.campaign_id.is_not(None))
            .group_by(SalesOrder.campaign_id)
        )
    }
    cost: dict[int, float] = {
        int(str(campaign_id)): _number(total)
        for campaign_id, total in session.execute(
            select(OutboundMessage.campaign_id, func.sum(BILLED))
            .where(
                OutboundMessage.campaign_id.is_not(None),
                OutboundMessage.channel_connection_id.in_(channels),
                OutboundMessage.status.in_(REACHED),
                OutboundMessage.sent_at >= since,
                OutboundMessage.sent_at < until,
            )
            .group_by(OutboundMessage.campaign_id)
        )
    }
    names: dict[int, str] = dict(
        session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(set(revenue) | set(cost)))).all()
    )
    found = []
    for campaign_id in sorted(set(revenue) | set(cost)):
        orders, total = revenue.get(campaign_id, (0, 0.0))
        spent = cost.get(campaign_id, 0.0)
        found.append(
            {
                "campaign_id": campaign_id,
                "name": names.get(campaign_id, ""),
                "orders": orders,
                "revenue": round(total, 2),
                "cost": round(spent, 4),
                "return_on_spend": round(total / spent, 2) if spent > 0 else None,
            }
        )
    return found


def metrics(session: Session) -> Iterator[Metric]:
    """Prometheus counters: paid orders and their revenue credited to chat, by source (``none``: no chat touch)."""
    from prometheus_client.core import CounterMetricFamily

    orders = CounterMetricFamily(
        "connector_chat_orders", "Paid orders by the chat touch they are credited to", labels=["source"]
    )
    revenue = CounterMetricFamily(
        "connector_chat_revenue", "Revenue of paid orders by chat touch and currency", labels=["source", "currency"]
    )
    per_source: dict[str, int] = {}
    for source, currency, count, total in session.execute(
        select(SalesOrder.source, SalesOrder.currency, func.count(), func.sum(SalesOrder.total)).group_by(
            SalesOrder.source, SalesOrder.currency
        )
    ):
        name = source or "none"
        per_source[name] = per_source.get(name, 0) + count
        revenue.add_metric([name, currency], float(total or 0.0))
    for name, count in per_source.items():
        orders.add_metric([name], count)
    yield orders
    yield revenue
