"""The figures behind the overview's charts that a short browser session cannot produce: back-in-stock messages
that led to an order within 7 days, and orders the shop then reported paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from connector.api import scope
from connector.dashboard import stats
from connector.db.models import DEFAULT_WORKSPACE_ID, Contact
from connector.db.models_conversation import ChatOrder
from connector.db.models_notify import BackInStockSubscription, OrderNotification
from connector.runtime import Runtime

from .conftest import Connected, wait_until
from .test_browser_pages import activity


def chat_order_created(rt: Runtime) -> None:
    """Wait until the cart :func:`activity` sent became an order in the shop (the worker does that)."""

    def created() -> bool:
        with rt.db.session() as session:
            return session.scalar(select(ChatOrder.id).where(ChatOrder.status == "created")) is not None

    wait_until(created, timeout=60)


def test_back_in_stock_conversions_and_paid_orders(connected: Connected) -> None:
    activity(connected)  # a customer who ordered in chat today
    rt = connected.live.runtime
    chat_order_created(rt)
    now = datetime.now(UTC)
    with rt.db.session() as session:
        order = session.scalars(select(ChatOrder).where(ChatOrder.status == "created")).one()
        buyer = order.contact_id
        other = Contact(channel_connection_id=connected.channel_id, channel_user_id="4917000000099", name="Ola")
        session.add(other)
        session.flush()

        def notified(contact_id: int, at: datetime) -> BackInStockSubscription:
            return BackInStockSubscription(
                contact_id=contact_id,
                shop_connection_id=connected.shop_id,
                variant_external_id="v1",
                status="notified",
                source="chat",
                created_at=at - timedelta(days=3),
                expires_at=at + timedelta(days=60),
                ended_at=at,
            )

        # The buyer was told "back in stock" two days before ordering: a conversion. Ola was told too, and did not
        # order: none. A notification after the order converts nothing.
        session.add_all(
            [
                notified(buyer, order.created_at - timedelta(days=2)),
                notified(other.id, order.created_at - timedelta(days=2)),
                notified(buyer, order.created_at + timedelta(minutes=1)),
            ]
        )

    def ledger_written() -> bool:  # the shop's "order created" webhook reached the notify module
        with rt.db.session() as session:
            return (
                session.scalar(
                    select(OrderNotification.id).where(OrderNotification.order_external_id == order.order_external_id)
                )
                is not None
            )

    wait_until(ledger_written, timeout=60)
    with scope.binding(scope.Visibility(DEFAULT_WORKSPACE_ID, operator=True)):
        pending = stats.charts(rt, 7)
    # The shop knows the order (its ledger row), still waiting for payment: ordered, not paid.
    assert pending.funnel["order"] == 1 and pending.funnel["paid"] == 0
    with rt.db.session() as session:
        ledger = session.scalars(
            select(OrderNotification).where(OrderNotification.order_external_id == order.order_external_id)
        ).one()
        assert ledger.rank == -1
        # The shop then reported it paid (status open): the order_confirmed rank.
        ledger.rank, ledger.last_kind = 0, "order_confirmed"
    with scope.binding(scope.Visibility(DEFAULT_WORKSPACE_ID, operator=True)):
        charts = stats.charts(rt, 7)
    two_days_ago = (order.created_at - timedelta(days=2)).date().isoformat()
    day = charts.days.index(two_days_ago)
    assert charts.back_in_stock_sent[day] == 2
    assert charts.back_in_stock_converted[day] == 1
    assert charts.back_in_stock_sent[-1] == 1 and charts.back_in_stock_converted[-1] == 0
    assert charts.funnel["order"] == 1 and charts.funnel["paid"] == 1
    assert charts.orders[-1] == 1 and sum(charts.orders) == 1
    assert now.date().isoformat() == charts.days[-1]
