"""Orders deleted in WooCommerce over real HTTP: ``order.deleted`` (a body of just ``{"id": N}``) and an order
deleted for good (404 on fetch) are handled once: the order is no longer followed, its waiting notifications are
skipped with the reason, the webhook is acknowledged at the first attempt and nothing asks the shop again."""

from __future__ import annotations

import json

from sqlalchemy import select

from connector.db.models import WebhookEvent
from connector.db.models_notify import OrderNotification
from connector.notify import shipping
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, customer, place_order, rows, settled

PHONE = "4915112345678"


def _ledger(stack: Stack, order_id: str) -> OrderNotification | None:
    with stack.runtime.db.session() as session:
        return session.scalar(
            select(OrderNotification).where(
                OrderNotification.shop_connection_id == stack.shop_id,
                OrderNotification.order_external_id == order_id,
            )
        )


def _deleted_deliveries(stack: Stack, order_id: str) -> list[dict]:
    answer = stack.shop.control("GET", "deliveries")["deliveries"]
    return [
        d
        for d in answer
        if d["headers"].get("X-WC-Webhook-Topic") == "order.deleted" and json.loads(d["body"]) == {"id": int(order_id)}
    ]


def _events(stack: Stack, topic: str) -> list[WebhookEvent]:
    with stack.runtime.db.session() as session:
        return list(session.scalars(select(WebhookEvent).where(WebhookEvent.topic == topic)))


def test_order_deleted_for_good_is_handled_once_without_asking_the_shop_again(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    order = place_order(stack, PHONE, "deleted-for-good")
    wait_for(lambda: (ledger := _ledger(stack, order.external_id)) is not None and ledger.in_flight)

    stack.shop.delete_order(order.external_id, force=True)

    # WooCommerce sent {"id": N}; the connector took it at the first attempt and processed it.
    wait_for(lambda: [e.status for e in _events(stack, "order.deleted")] == ["processed"])
    [delivery] = _deleted_deliveries(stack, order.external_id)
    assert delivery["attempts"] == [200]
    wait_for(lambda: (ledger := _ledger(stack, order.external_id)) is not None and not ledger.in_flight)
    # The reconcile job no longer polls it: no stream of 404s.
    assert shipping.reconcile(stack.runtime) == 0


def test_a_missed_deletion_costs_one_404_then_the_order_is_no_longer_polled(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    order = place_order(stack, PHONE, "missed-deletion")
    wait_for(lambda: (ledger := _ledger(stack, order.external_id)) is not None and ledger.in_flight)
    # The owner deletes it while the connector's order.deleted subscription is paused: no webhook arrives.
    adapter = stack.runtime.connections.shop_adapter(stack.shop_id)
    hooks = adapter.client.get("webhooks", params={"per_page": 100})
    [hook] = [h for h in hooks if h["topic"] == "order.deleted"]
    adapter.client.put(f"webhooks/{hook['id']}", {"status": "paused"})
    stack.shop.delete_order(order.external_id, force=True)

    assert shipping.reconcile(stack.runtime) == 0  # the 404: retired, not counted as checked
    assert not _ledger(stack, order.external_id).in_flight  # type: ignore[union-attr]
    assert shipping.reconcile(stack.runtime) == 0  # and not asked again


def test_a_trashed_order_is_announced_with_its_id_only_and_not_fetched(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    order = place_order(stack, PHONE, "trashed")
    wait_for(lambda: (ledger := _ledger(stack, order.external_id)) is not None and ledger.in_flight)

    stack.shop.delete_order(order.external_id)

    wait_for(lambda: [e.status for e in _events(stack, "order.deleted")] == ["processed"])
    [delivery] = _deleted_deliveries(stack, order.external_id)
    assert json.loads(delivery["body"]) == {"id": int(order.external_id)} and delivery["attempts"] == [200]
    wait_for(lambda: not _ledger(stack, order.external_id).in_flight)  # type: ignore[union-attr]


def test_a_notification_still_waiting_for_a_deleted_order_is_skipped_with_the_reason(
    notify_stack: StackFactory,
) -> None:
    # A budget too small for one template: the shipping update waits (deferred to tomorrow) when the order goes.
    stack = notify_stack(daily_budget=0.01)
    customer(stack, PHONE)
    order = place_order(stack, PHONE, "deleted-while-waiting")
    stack.shop.ship_order(order.external_id, company="DHL", number="TRK9", url="https://dhl.example/t")
    [row] = settled(stack, "order_shipped")
    assert row.status == "deferred"

    stack.shop.delete_order(order.external_id, force=True)

    wait_for(lambda: [r.status for r in rows(stack, kind="order_shipped")] == ["skipped"])
    [row] = rows(stack, kind="order_shipped")
    assert row.reason == "the order was deleted in the shop" and row.deferred_until is None
    assert stack.graph.messages_to(PHONE) == []
