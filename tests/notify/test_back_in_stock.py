"""Back-in-stock over real HTTP: subscriptions, waves of stock x factor, budget and reach deferral."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select, update

from connector.db.models_notify import BackInStockSubscription
from connector.notify.back_in_stock import subscribe
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, customer, rows, settled

BIS_TEMPLATE = {"back_in_stock": {"en": "bis_text"}}


def _sold_out_variant(stack: Stack) -> str:
    stack.full_sync()
    variant = next(v for v in stack.shop.variant_ids() if stack.catalog()[v]["availability"] == "in stock")
    stack.shop.set_stock(variant, 0)
    wait_for(lambda: stack.catalog()[variant]["availability"] == "out of stock")
    return variant


def _subscribers(stack: Stack, variant: str, count: int, *, start: int = 0) -> list[str]:
    phones = [f"49151{start + i:08d}" for i in range(count)]
    for phone in phones:
        contact_id = customer(stack, phone, purposes=("marketing",))
        subscribe(
            stack.runtime,
            contact_id=contact_id,
            shop_connection_id=stack.shop_id,
            variant_external_id=variant,
            source="test",
        )
    return phones


def _with_template(stack: Stack) -> None:
    stack.graph.add_template("bis_text", "{{1}} is back in stock. Reply to order it.", category="MARKETING")


def test_a_wave_notifies_stock_times_factor_first_come_first_served_then_the_next_wave(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE, back_in_stock_factor=2.0, back_in_stock_wave_interval_seconds=2)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    phones = _subscribers(stack, variant, 10)

    stack.shop.set_stock(variant, 2)
    first = settled(stack, "back_in_stock", count=4)
    assert sorted(r.recipient for r in first[:4]) == phones[:4]  # the first four who subscribed
    assert all(r.status in ("sent", "delivered", "read") for r in first[:4])

    second = settled(stack, "back_in_stock", count=8)  # stock remains: the next wave, 2 s later
    assert [r.recipient for r in second[4:8]] == phones[4:8]
    for phone in phones[:8]:
        [message] = stack.graph.messages_to(phone)
        assert message["template"]["name"] == "bis_text"
    # A subscription ends with its notification: nobody is told twice, and the last two still wait.
    subs = _api(stack).get("/api/v1/notifications/subscriptions").json()["items"]
    assert [s["status"] for s in subs] == ["notified"] * 8 + ["active"] * 2 or len(
        rows(stack, kind="back_in_stock")
    ) == 10


def test_over_the_daily_budget_messages_are_deferred_not_dropped(notify_stack: StackFactory) -> None:
    # DE marketing costs 0.1365 per message: a budget of 0.30 pays for two.
    stack = notify_stack(templates=BIS_TEMPLATE, daily_budget=0.30, back_in_stock_factor=10.0)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    _subscribers(stack, variant, 3)
    stack.shop.set_stock(variant, 5)

    result = settled(stack, "back_in_stock", count=3)
    assert [r.status for r in result].count("sent") + [r.status for r in result].count("delivered") + [
        r.status for r in result
    ].count("read") == 2
    [deferred] = [r for r in result if r.status == "deferred"]
    assert deferred.reason == "daily budget of 0.3 reached"
    assert deferred.deferred_until is not None and deferred.deferred_until.hour == 0
    costs = _api(stack).get("/api/v1/notifications/costs").json()
    assert costs["currency"] == "EUR"
    [today] = [c for c in costs["items"] if c["kind"] == "back_in_stock"]
    assert today["messages"] == 2 and abs(today["cost"] - 0.273) < 1e-9


def test_beyond_the_reach_limit_new_users_are_deferred(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE, reach_limit=250, back_in_stock_factor=100.0, messages_per_second=200)
    stack.graph.set_options(mps=1000)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    _subscribers(stack, variant, 252)
    stack.shop.set_stock(variant, 10)

    result = settled(stack, "back_in_stock", count=252, timeout=60)
    statuses = [r.status for r in result]
    assert len([s for s in statuses if s in ("sent", "delivered", "read")]) == 250
    deferred = [r for r in result if r.status == "deferred"]
    assert len(deferred) == 2
    assert all(r.reason == "reach limit of 250 users per 24 h reached" for r in deferred)
    assert stack.graph.stats()["whatsapp"]["accepted"] == 250


def test_the_public_endpoint_needs_the_consent_box_and_is_rate_limited(notify_stack: StackFactory) -> None:
    stack = notify_stack(public_subscribe_per_minute=3)
    url = f"{stack.url}/public/back-in-stock"
    payload: dict[str, Any] = {"shop_connection_id": stack.shop_id, "variant_external_id": "42", "phone": "+4917000001"}

    refused = requests.post(url, json=payload, timeout=10)
    assert refused.status_code == 400 and "consent" in refused.json()["message"]
    created = requests.post(url, json={**payload, "consent": True}, timeout=10)
    assert created.status_code == 202 and created.headers["Access-Control-Allow-Origin"] == "*"
    again = requests.post(url, json={**payload, "consent": True}, timeout=10)
    assert again.json()["id"] == created.json()["id"]  # one subscription per person and variant
    limited = requests.post(url, json={**payload, "consent": True}, timeout=10)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert requests.post(url, data="nonsense", timeout=10).status_code in (400, 429)

    # The customer confirms on WhatsApp: the opt-in keeps the form's text and the confirming message.
    stack.graph.customer_text(None, "4917000001", created.json()["confirm_text"])
    wait_for(lambda: _api(stack).get("/api/v1/notifications/subscriptions").json()["items"][0]["status"] == "active")
    contact_id = _api(stack).get("/api/v1/notifications/subscriptions").json()["items"][0]["contact_id"]
    proof = _api(stack).get(f"/api/v1/notifications/consent/{contact_id}").json()
    assert proof["consent"]["marketing"]["source"].startswith("double_opt_in:")
    assert "back in stock" in proof["consent"]["marketing"]["text"]


def _api(stack: Stack) -> Any:
    from tests.notify.conftest import ApiClient

    return ApiClient(stack)


def test_an_expired_subscription_is_not_notified_and_the_others_record_their_message(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE, back_in_stock_factor=10.0)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    phones = _subscribers(stack, variant, 3)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    first = min(_subscriptions(stack), key=lambda s: s.id)
    with stack.runtime.db.session() as session:  # the first subscription ran out yesterday
        session.execute(
            update(BackInStockSubscription).where(BackInStockSubscription.id == first.id).values(expires_at=yesterday)
        )

    stack.shop.set_stock(variant, 5)
    notified = settled(stack, "back_in_stock", count=2)
    assert sorted(r.recipient for r in notified) == phones[1:]
    assert stack.graph.messages_to(phones[0]) == []
    subs = _subscriptions(stack)
    assert [s.status for s in subs] == ["expired", "notified", "notified"]
    assert all(s.active_key is None and s.ended_at is not None for s in subs)
    # Each notified subscription names the outbox row that told it.
    assert sorted(s.outbound_message_id or 0 for s in subs[1:]) == sorted(r.id for r in notified)


def _subscriptions(stack: Stack) -> list[BackInStockSubscription]:
    with stack.runtime.db.session() as session:
        return list(session.scalars(select(BackInStockSubscription).order_by(BackInStockSubscription.id)))
