"""Failures WhatsApp reports after it accepted a send (a ``failed`` status webhook), over real HTTP: the error
code is stored and acted on (131047 template re-send, 131049 marketing pause and the US block, 131050 opt-out,
131026 unreachable)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connector.db.models import Contact, OutboundMessage
from connector.db.models_notify import ConsentEvent
from connector.notify.back_in_stock import subscribe
from connector.notify.consent import ConsentRefused, has_consent, record_opt_in
from connector.notify.policy import US_MARKETING
from tests.conftest import WAIT_BOUND, Stack, wait_for
from tests.notify.conftest import StackFactory, customer, place_order, rows
from tests.notify.test_back_in_stock import BIS_TEMPLATE, _sold_out_variant, _with_template

PHONE = "4915112340001"
US_PHONE = "12125550101"
SENT = ("sent", "delivered", "read")
#: Back-in-stock alerts and order updates both have their template.
TEMPLATES = {**BIS_TEMPLATE, "order_shipped": {"en": "order_shipped"}}


def _contact(stack: Stack, contact_id: int) -> Contact:
    with stack.runtime.db.session() as session:
        found = session.get(Contact, contact_id)
        assert found is not None
        session.expunge(found)
        return found


def _ship(stack: Stack, phone: str, reference: str) -> None:
    order = place_order(stack, phone, reference)
    stack.shop.ship_order(order.external_id, company="DHL", number=f"TRK-{reference}", url="https://dhl.example/t")


def _final(stack: Stack, kind: str, count: int, timeout: float = WAIT_BOUND) -> list[OutboundMessage]:
    """Wait until ``count`` rows of ``kind`` reached a final state (a ``failed`` status webhook came, or sent,
    skipped or deferred) and return them."""

    def done() -> list[OutboundMessage] | None:
        found = rows(stack, kind=kind)
        final = [r for r in found if r.status in ("failed", "skipped", "deferred", "delivered", "read")]
        return found if len(found) >= count and len(final) == len(found) else None

    return wait_for(done, timeout=timeout)


def _open_window(stack: Stack, contact_id: int, phone: str) -> None:
    """The customer writes (no chat answer: chat is off, so the next message to them is the notification)."""
    stack.runtime.config.chat.enabled = False
    stack.graph.customer_text(None, phone, "Hallo")
    wait_for(lambda: _contact(stack, contact_id).last_inbound_at is not None)


def test_window_closed_after_acceptance_is_resent_once_as_its_template(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    contact_id = customer(stack, PHONE)
    _open_window(stack, contact_id, PHONE)
    stack.graph.set_options(fail_next={PHONE: "131047"})  # WhatsApp: the window had closed after all

    _ship(stack, PHONE, "w47")
    first, again = _final(stack, "order_shipped", 2)
    assert first.status == "failed" and first.error_code == 131047
    assert first.error is not None and first.error.startswith("131047 Re-engagement message")
    assert again.status in SENT and again.notification is not None
    assert again.notification["resent_from"] == first.id
    free_form, template = stack.graph.messages_to(PHONE)
    assert free_form["type"] == "interactive"
    assert template["type"] == "template" and template["template"]["name"] == "order_shipped"
    stack.graph.wait_webhooks()
    assert len(rows(stack, kind="order_shipped")) == 2  # once: the webhook's redelivery adds nothing


def test_a_template_that_fails_as_well_is_not_resent_again(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    contact_id = customer(stack, PHONE)
    _open_window(stack, contact_id, PHONE)
    stack.graph.set_options(fail_next={PHONE: "131047,131047"})  # the free-form message and its template

    _ship(stack, PHONE, "w47-twice")
    first, again = _final(stack, "order_shipped", 2)
    assert (first.status, again.status) == ("failed", "failed")
    assert first.error_code == again.error_code == 131047
    stack.graph.wait_webhooks()
    assert len(rows(stack, kind="order_shipped")) == 2
    assert len(stack.graph.messages_to(PHONE)) == 2


def test_window_closed_without_a_template_skips_the_resend_with_the_reason(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates={})
    contact_id = customer(stack, PHONE)
    _open_window(stack, contact_id, PHONE)
    stack.graph.set_options(fail_next={PHONE: "131047"})

    _ship(stack, PHONE, "w47-none")
    first, again = _final(stack, "order_shipped", 2)
    assert first.status == "failed" and first.error_code == 131047
    assert again.status == "skipped"
    assert again.reason == "outside the 24-hour window and no template configured for order_shipped in 'en'"
    assert len(stack.graph.messages_to(PHONE)) == 1


def _bis_subscribers(stack: Stack, variant: str, phones: list[str]) -> dict[str, int]:
    contacts = {}
    for phone in phones:
        contact_id = customer(stack, phone, purposes=("utility", "marketing"))
        subscribe(
            stack.runtime, contact_id=contact_id, shop_connection_id=stack.shop_id, variant_external_id=variant,
            source="test",
        )  # fmt: skip
        contacts[phone] = contact_id
    return contacts


def _second_variant(stack: Stack, first: str) -> str:
    variant = next(
        v for v in stack.shop.variant_ids() if v != first and stack.catalog()[v]["availability"] == "in stock"
    )
    stack.shop.set_stock(variant, 0)
    wait_for(lambda: stack.catalog()[variant]["availability"] == "out of stock")
    return variant


def test_131049_pauses_marketing_for_a_day_and_us_numbers_get_no_marketing_template(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(templates=TEMPLATES, back_in_stock_factor=10.0)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    contacts = _bis_subscribers(stack, variant, [PHONE, US_PHONE])
    stack.graph.set_options(fail_next={PHONE: "131049"})

    stack.shop.set_stock(variant, 5)
    result = {r.recipient: r for r in _final(stack, "back_in_stock", 2)}
    assert result[PHONE].status == "failed" and result[PHONE].error_code == 131049
    assert result[US_PHONE].status == "skipped" and result[US_PHONE].reason == US_MARKETING
    assert stack.graph.messages_to(US_PHONE) == []
    paused = _contact(stack, contacts[PHONE])
    assert paused.marketing_paused_until is not None
    assert paused.marketing_paused_until - datetime.now(UTC) > timedelta(hours=23)
    assert "131049" in (paused.marketing_paused_reason or "")

    # The next marketing message waits out the day; an order update is no marketing and goes at once.
    other = _second_variant(stack, variant)
    _bis_subscribers(stack, other, [PHONE])
    stack.shop.set_stock(other, 5)
    later = wait_for(lambda: [r for r in rows(stack, kind="back_in_stock") if r.status == "deferred"])
    assert later[0].recipient == PHONE and "131049" in (later[0].reason or "")
    assert later[0].deferred_until is not None
    assert abs((later[0].deferred_until - paused.marketing_paused_until).total_seconds()) < 1
    _ship(stack, PHONE, "after-49")
    [update] = _final(stack, "order_shipped", 1)
    assert update.status in SENT
    assert len(stack.graph.messages_to(PHONE)) == 2  # the failed alert and the order update


def test_131050_is_a_marketing_opt_out_with_the_webhook_as_proof(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE, back_in_stock_factor=10.0)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    contacts = _bis_subscribers(stack, variant, [PHONE])
    stack.graph.set_options(fail_next={PHONE: "131050"})

    stack.shop.set_stock(variant, 5)
    [failed] = _final(stack, "back_in_stock", 1)
    assert failed.status == "failed" and failed.error_code == 131050
    contact_id = contacts[PHONE]
    assert not has_consent(stack.runtime, contact_id, "marketing")
    assert has_consent(stack.runtime, contact_id, "utility")  # only marketing was stopped
    with stack.runtime.db.session() as session:
        event = session.scalars(
            select(ConsentEvent).where(ConsentEvent.contact_id == contact_id).order_by(ConsentEvent.id.desc())
        ).first()
        assert event is not None
        assert (event.purpose, event.action, event.source, event.on_channel) == (
            "marketing", "opt_out", "whatsapp_131050", True,
        )  # fmt: skip
        proof = json.loads(event.text)
    assert proof["id"] == failed.channel_message_id and proof["errors"][0]["code"] == 131050

    # Nothing more goes to them, and an opt-in from outside WhatsApp cannot undo their choice.
    other = _second_variant(stack, variant)
    _bis_subscribers_without_opt_in(stack, other, contact_id)
    stack.shop.set_stock(other, 5)
    skipped = wait_for(lambda: [r for r in rows(stack, kind="back_in_stock") if r.status == "skipped"])
    assert skipped[0].reason == "no opt-in for marketing messages"
    assert len(stack.graph.messages_to(PHONE)) == 1
    with pytest.raises(ConsentRefused):
        record_opt_in(stack.runtime, contact_id=contact_id, purpose="marketing", source="admin_api", text="import")


def _bis_subscribers_without_opt_in(stack: Stack, variant: str, contact_id: int) -> None:
    subscribe(
        stack.runtime, contact_id=contact_id, shop_connection_id=stack.shop_id, variant_external_id=variant,
        source="test",
    )  # fmt: skip


def test_undeliverable_marks_the_contact_and_the_next_notification_says_why(
    notify_stack: StackFactory, api_client: Any
) -> None:
    stack = notify_stack()
    contact_id = customer(stack, PHONE)
    stack.graph.set_options(fail_next={PHONE: "131026"})

    _ship(stack, PHONE, "u1")
    [first] = _final(stack, "order_shipped", 1)
    assert first.status == "failed" and first.error_code == 131026
    reason = _contact(stack, contact_id).unreachable_reason
    assert reason is not None and "131026 Message undeliverable" in reason
    shown = api_client(stack).get(f"/api/v1/notifications/{first.id}").json()
    assert shown["error_code"] == 131026 and shown["error"].startswith("131026 Message undeliverable")

    _ship(stack, PHONE, "u2")
    _, second = _final(stack, "order_shipped", 2)
    assert second.status == "skipped" and second.reason == reason
    assert len(stack.graph.messages_to(PHONE)) == 1

    # They write to us: reachable again, and the next update goes out.
    stack.runtime.config.chat.enabled = False
    stack.graph.customer_text(None, PHONE, "Neues Handy, alles wieder da")
    wait_for(lambda: _contact(stack, contact_id).unreachable_at is None)
    _ship(stack, PHONE, "u3")
    *_, third = _final(stack, "order_shipped", 3)
    assert third.status in SENT


def test_a_send_refused_outright_as_undeliverable_keeps_its_code_and_marks_the_contact(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack()
    contact_id = customer(stack, PHONE)
    stack.graph.set_options(bad_recipients=[PHONE])  # WhatsApp refuses the send itself with 131026

    _ship(stack, PHONE, "r1")
    [first] = _final(stack, "order_shipped", 1)
    assert first.status == "failed" and first.error_code == 131026
    reason = _contact(stack, contact_id).unreachable_reason
    assert reason is not None and "131026" in reason
    _ship(stack, PHONE, "r2")
    _, second = _final(stack, "order_shipped", 2)
    assert second.status == "skipped" and second.reason == reason
    assert stack.graph.stats()["whatsapp"]["refused"] == {"131026": 1}  # asked once, not twice
