"""WhatsApp's messaging limit per business portfolio over real HTTP: read from the Graph API field and from
``business_capability_update`` webhooks, shared by every number of the portfolio (the connector defers across
numbers, the Graph sandbox enforces it portfolio-wide)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from connector import model
from connector.chat.inbound import upsert_contact
from connector.db.models import Contact, WebhookEvent
from connector.db.models_notify import PortfolioLimit
from connector.notify.consent import record_opt_in
from connector.notify.outbox import queue_notification
from connector.notify.portfolio import refresh_limits
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, customer, rows

WABA = "waba:102290129340398"
SECOND = "106540352242923"
SENT = ("sent", "delivered", "read")


def _limit(stack: Stack) -> PortfolioLimit | None:
    with stack.runtime.db.session() as session:
        found = session.get(PortfolioLimit, WABA)
        if found is not None:
            session.expunge(found)
        return found


def test_the_limit_is_read_from_the_api_and_from_business_capability_update(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    stack.graph.set_options(messaging_limit_tier="TIER_2K")
    assert refresh_limits(stack.runtime) == {WABA: 2000}
    read = _limit(stack)
    assert read is not None and (read.reach_limit, read.source, read.raw) == (2000, "api", "TIER_2K")

    # Meta's example states the new limit as an integer ...
    stack.graph.set_messaging_limit("TIER_10K")
    wait_for(lambda: (found := _limit(stack)) is not None and found.source == "webhook")
    assert _limit(stack).reach_limit == 10000  # type: ignore[union-attr]
    # ... its field table as a tier: both are understood.
    stack.graph.set_options(capability_limit_format="tier")
    stack.graph.set_messaging_limit("TIER_UNLIMITED")
    wait_for(lambda: (found := _limit(stack)) is not None and found.raw == "TIER_UNLIMITED")
    assert _limit(stack).reach_limit == 0  # type: ignore[union-attr]


def _second_number(stack: Stack) -> int:
    """A second WhatsApp number of the same business portfolio, connected to the same shop."""
    stack.graph.set_options(portfolio_phone_numbers={SECOND: "15550100200"})
    adapter_cls = stack.runtime.plugins.channel_adapters["whatsapp"]
    names = {f.name for f in adapter_cls.config_fields}
    settings = {k: v for k, v in stack.graph.connection_settings().items() if k in names}
    settings["phone_number_id"] = SECOND
    row = stack.runtime.connections.create_channel(
        shop_connection_id=stack.shop_id, name="Second number", channel="whatsapp", settings=settings
    )
    return int(row.id)


def _notify(stack: Stack, contact_id: int, reference: str) -> None:
    rt = stack.runtime
    with rt.db.session() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        variables = {"name": "Erika", "number": reference, "carrier": "DHL", "tracking_number": f"TRK{reference}"}
        queue_notification(
            rt, session, contact=contact, kind="order_shipped", purpose="utility", variables=variables,
            idempotency_key=f"test:{reference}",
        )  # fmt: skip


def _customer_on(stack: Stack, channel_id: int, phone: str) -> int:
    rt = stack.runtime
    contact_id = upsert_contact(
        rt, channel_id, model.Contact(channel="whatsapp", channel_user_id=phone, phone="+" + phone)
    )
    record_opt_in(rt, contact_id=contact_id, purpose="utility", source="test", text="order updates please")
    return contact_id


def _webhook_status(stack: Stack, wamid: str, state: str) -> dict[str, Any] | None:
    with stack.runtime.db.session() as session:
        bodies = session.scalars(select(WebhookEvent.body)).all()
    for body in bodies:
        for entry in json.loads(body)["entry"]:
            for change in entry["changes"]:
                for status in change["value"].get("statuses", []):
                    if status["id"] == wamid and status["status"] == state:
                        return dict(status)
    return None


def test_two_numbers_of_one_portfolio_share_the_reach_limit(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    second = _second_number(stack)
    stack.graph.set_messaging_limit("TIER_250", users=2)  # a test-sized limit, announced by webhook
    wait_for(lambda: (found := _limit(stack)) is not None and found.reach_limit == 2)

    first_a, first_b = "4915112350001", "4915112350002"
    for phone in (first_a, first_b):
        _notify(stack, customer(stack, phone), phone)
    wait_for(lambda: len([r for r in rows(stack, kind="order_shipped") if r.status in SENT]) == 2)

    # A new user on the portfolio's other number: the two reached by the first number used the limit up.
    other = "4915112350003"
    _notify(stack, _customer_on(stack, second, other), other)
    [deferred] = wait_for(lambda: [r for r in rows(stack, kind="order_shipped") if r.status == "deferred"])
    assert deferred.channel_connection_id == second and deferred.recipient == other
    assert (
        deferred.reason == f"reach limit of 2 users per 24 h reached (business portfolio {WABA}, shared by 2 numbers)"
    )
    sent_at = min(r.sent_at for r in rows(stack, kind="order_shipped") if r.sent_at is not None and r.status in SENT)
    assert deferred.deferred_until is not None
    assert abs(deferred.deferred_until - (sent_at + timedelta(hours=24))) < timedelta(seconds=2)
    assert stack.graph.messages_to(other) == []

    # The sandbox enforces the same limit across numbers: the second number reaching a third user outside a
    # window is accepted, then fails; reaching a user the first number reached already is fine.
    adapter = stack.runtime.connections.channel_adapter(second)
    template = model.TemplateMessage(
        name="order_shipped", language="en_US", body_parameters=["Erika", "X1", "DHL"], button_parameters=["X1"]
    )
    over = adapter.send(model.Contact(channel="whatsapp", channel_user_id=other, phone="+" + other), template)
    failed = wait_for(lambda: _webhook_status(stack, over.message_id, "failed"))
    assert "messaging limit" in failed["errors"][0]["error_data"]["details"]
    again = adapter.send(model.Contact(channel="whatsapp", channel_user_id=first_a, phone="+" + first_a), template)
    assert wait_for(lambda: _webhook_status(stack, again.message_id, "delivered"))


def _post_change(stack: Stack, field: str, value: dict[str, Any]) -> Any:
    import requests
    from connector_meta.sandbox.events import encode, sign

    change = {"field": field, "value": value}
    body = encode({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [change]}]})
    headers = sign(body, stack.graph.connection_settings()["app_secret"])
    return requests.post(stack.channel_webhook_url(), data=body, headers=headers, timeout=10)


def test_a_quality_update_naming_the_portfolio_limit_counts_and_the_old_per_phone_fields_do_not(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack()
    old = {"display_phone_number": "15550100199", "event": "DOWNGRADE", "current_limit": "TIER_1K"}
    assert _post_change(stack, "phone_number_quality_update", old).status_code == 200
    not_set = {"display_phone_number": "15550100199", "event": "ONBOARDING",
               "max_daily_conversations_per_business": "TIER_NOT_SET"}  # fmt: skip
    assert _post_change(stack, "phone_number_quality_update", not_set).status_code == 200
    upgrade = {"display_phone_number": "15550100199", "event": "THROUGHPUT_UPGRADE",
               "max_daily_conversations_per_business": "TIER_100K"}  # fmt: skip
    assert _post_change(stack, "phone_number_quality_update", upgrade).status_code == 200
    found = wait_for(lambda: _limit(stack))
    assert (found.reach_limit, found.source, found.raw) == (100000, "webhook", "TIER_100K")
