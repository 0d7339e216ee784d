"""Consent: STOP/STOPP/ABMELDEN and START over real HTTP, with proof kept for every decision."""

from __future__ import annotations

from typing import Any

from connector.notify.consent import has_consent, is_consent_keyword
from tests.conftest import wait_for
from tests.notify.conftest import StackFactory, customer, place_order, settled

PHONE = "4915112345679"


def _texts(stack: Any, phone: str) -> list[str]:
    return [m["text"]["body"] for m in stack.graph.messages_to(phone) if m["type"] == "text"]


def test_keywords_are_recognised_in_german_and_english() -> None:
    for word in ("STOP", "stopp", " Abmelden! ", "START", "Anmelden"):
        assert is_consent_keyword(word)
    assert not is_consent_keyword("Stop the press, where is my order?")


def test_stop_takes_effect_at_once_is_confirmed_and_start_undoes_it(
    notify_stack: StackFactory, api_client: Any
) -> None:
    stack = notify_stack()
    contact_id = customer(stack, PHONE, purposes=("utility", "marketing"), locale="de_DE")

    stack.graph.customer_text(None, PHONE, "STOPP")
    confirmation = wait_for(lambda: [t for t in _texts(stack, PHONE) if "keine Nachrichten" in t])
    assert confirmation == [
        "Sie erhalten keine Nachrichten mehr von uns. Antworten Sie START, um Bestell-Updates und Hinweise wieder "
        "zu erhalten."
    ]
    assert not has_consent(stack.runtime, contact_id, "utility")
    assert not has_consent(stack.runtime, contact_id, "marketing")

    order = place_order(stack, PHONE, "after-stop")
    stack.shop.ship_order(order.external_id, company="DHL", number="777", url="https://dhl.example/t")
    [row] = settled(stack, "order_shipped")
    assert row.status == "skipped" and row.reason == "no opt-in for utility messages"
    assert not [m for m in stack.graph.messages_to(PHONE) if m["type"] != "text"]

    stack.graph.customer_text(None, PHONE, "START")
    wait_for(lambda: [t for t in _texts(stack, PHONE) if "Willkommen zurück" in t])
    assert has_consent(stack.runtime, contact_id, "utility")

    proof = api_client(stack).get(f"/api/v1/notifications/consent/{contact_id}").json()
    assert [(e["purpose"], e["action"], e["source"]) for e in proof["history"]] == [
        ("utility", "opt_in", "test"),
        ("marketing", "opt_in", "test"),
        ("utility", "opt_out", "keyword"),
        ("marketing", "opt_out", "keyword"),
        ("utility", "opt_in", "keyword"),
        ("marketing", "opt_in", "keyword"),
    ]
    assert proof["history"][0]["text"] == "I want utility messages on WhatsApp"


def test_a_tap_on_stop_alerts_opts_out_of_alerts_and_is_not_read_as_a_subscription(
    notify_stack: StackFactory,
) -> None:
    from sqlalchemy import select

    from connector.db.models_notify import BackInStockSubscription
    from tests.notify.test_back_in_stock import BIS_TEMPLATE, _sold_out_variant, _subscribers

    stack = notify_stack(templates=BIS_TEMPLATE)
    variant = _sold_out_variant(stack)
    [phone] = _subscribers(stack, variant, 1)
    stack.graph.customer_text(None, phone, "hi")  # inside the window: the alert comes with its buttons
    wait_for(lambda: stack.graph.messages_to(phone))
    stack.shop.set_stock(variant, 5)
    alert = wait_for(lambda: [m for m in stack.graph.messages_to(phone) if m["type"] == "interactive"
                              and "back" in m["interactive"]["body"]["text"]])  # fmt: skip
    [button] = alert[0]["interactive"]["action"]["buttons"]

    stack.graph.customer_press_button(None, phone, button["reply"]["id"])
    wait_for(lambda: [t for t in _texts(stack, phone) if "START" in t])
    contact_id = customer(stack, phone, purposes=())
    assert not has_consent(stack.runtime, contact_id, "marketing")
    with stack.runtime.db.session() as session:
        subscriptions = session.scalars(
            select(BackInStockSubscription.variant_external_id).where(BackInStockSubscription.contact_id == contact_id)
        ).all()
    assert subscriptions == [variant]  # the one it had; the tap subscribed to nothing
    assert not [t for t in _texts(stack, phone) if "stop-alerts" in t]
