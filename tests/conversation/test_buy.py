"""Buying in chat, end to end: carts become orders with a payment link, checked first, never ordered twice."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from connector.conversation import engine
from connector.db.models import OutboundMessage, Task, WebhookEvent
from connector.db.models_conversation import ChatOrder
from connector.db.models_notify import Consent
from tests.conftest import wait_for
from tests.conversation.conftest import ChatStack, Customer, reply_ids

ADDRESS_STEPS = ("Erika Mustermann", "Hauptstraße 5", "10115", "Berlin", "DE")


def chat_orders(chat: ChatStack) -> list[ChatOrder]:
    with chat.runtime.db.session() as session:
        return list(session.scalars(select(ChatOrder).order_by(ChatOrder.id)))


def complete_address_if_asked(customer: Customer, replies: list[dict]) -> list[dict]:
    """Shops that need a delivery address before ordering (Shopware) ask for it: fill in the form (WhatsApp with
    Flows) or answer every step of the dialogue."""
    forms = [r for r in replies if (r.get("interactive") or {}).get("type") == "flow"]
    if forms:
        name, line1, postcode, city, country = ADDRESS_STEPS
        answers = {"name": name, "line1": line1, "postcode": postcode, "city": city, "country": country}
        return customer.fill_form(forms[-1], answers)
    text = customer.last_texts(replies)
    if "full name" not in text and "vollständiger Name" not in text:
        return replies
    for answer in ADDRESS_STEPS:
        replies = customer.say(answer)
    return [*replies, *customer.choose("addr:yes")]


@pytest.mark.parametrize(
    ("chat_stack", "greeting", "expected"),
    [
        ({"shop": "woocommerce"}, "Hello", ("Thank you! Order", "Pay now")),
        ({"shop": "shopify"}, "Hallo", ("Vielen Dank! Bestellung", "Jetzt bezahlen")),
        ({"shop": "shopware"}, "Hello", ("Thank you! Order", "Pay now")),
    ],
    indirect=["chat_stack"],
)
def test_a_whatsapp_cart_becomes_one_order_with_a_payment_link(
    chat_stack: ChatStack, greeting: str, expected: tuple[str, str]
) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say(greeting)
    before = len(chat_stack.shop.orders())
    items = chat_stack.in_stock(3)
    replies = complete_address_if_asked(customer, customer.cart({items[0]: 2, items[1]: 1, items[2]: 1}))
    summary = replies[-1]
    assert summary["type"] == "interactive" and summary["interactive"]["type"] == "cta_url"
    text = customer.last_texts([summary])
    assert expected[0] in text and expected[1] in text
    url = summary["interactive"]["action"]["parameters"]["url"]
    assert url.startswith("http")
    assert len(chat_stack.shop.orders()) == before + 1
    [order] = chat_orders(chat_stack)
    assert order.status == "created" and order.order_number in text and order.payment_url == url
    # the purchase is the customer's opt-in to this order's updates, with its source kept
    with chat_stack.runtime.db.session() as session:
        consent = session.scalar(select(Consent).where(Consent.purpose == "utility"))
    assert consent is not None and consent.granted and order.order_number in consent.source


@pytest.mark.parametrize(
    ("chat_stack", "greeting", "sold_out_word", "confirm_title"),
    [({}, "Hello", "sold out", "Place order"), ({}, "Hallo", "ausverkauft", "Bestellen")],
    indirect=["chat_stack"],
)
def test_a_cart_with_a_sold_out_item_says_what_changed_and_orders_the_rest_after_confirmation(
    chat_stack: ChatStack, greeting: str, sold_out_word: str, confirm_title: str
) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say(greeting)
    keep, gone = chat_stack.in_stock(2)
    chat_stack.shop.set_stock(gone, 0)  # sold out in the shop since the catalog was synced
    before = len(chat_stack.shop.orders())
    replies = customer.cart({keep: 1, gone: 1})
    text = customer.last_texts(replies)
    assert sold_out_word in text
    assert confirm_title in text
    assert f"notify:{gone}" in reply_ids(replies), "a sold-out item comes with a notify-me button"
    assert len(chat_stack.shop.orders()) == before, "nothing is ordered before the customer confirms"
    confirm = next(i for i in reply_ids(replies) if i.startswith("cart:confirm:"))
    summary = customer.choose(confirm)
    assert summary[-1]["interactive"]["type"] == "cta_url"
    assert len(chat_stack.shop.orders()) == before + 1
    [order] = chat_orders(chat_stack)
    assert [line["variant"] for line in order.cart["lines"]] == [keep]
    # a second tap on the same confirmation button shows the same order again, and orders nothing
    again = customer.choose(confirm)
    assert order.order_number in customer.last_texts(again)
    assert len(chat_stack.shop.orders()) == before + 1


def test_a_redelivered_cart_webhook_and_a_double_tap_never_create_a_second_order(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    items = chat_stack.in_stock(3)
    cart = {items[0]: 1, items[1]: 1, items[2]: 3}
    customer.cart(cart)
    before = len(chat_stack.shop.orders())
    # Meta redelivers the very same webhook
    with chat_stack.runtime.db.session() as session:
        deliveries = session.scalars(
            select(WebhookEvent).where(
                WebhookEvent.connection_kind == "channel", WebhookEvent.connection_id == chat_stack.stack.channel_id
            )
        ).all()
    event = [e for e in deliveries if b'"product_items"' in e.body][-1]
    url = chat_stack.runtime.connections.webhook_url("whatsapp", chat_stack.stack.channel_id)
    headers = {k: v for k, v in event.headers.items() if k.lower().startswith("x-hub") or k.lower() == "content-type"}
    answer = requests.post(url, data=event.body, headers=headers, timeout=10)
    assert answer.status_code == 200
    wait_for(lambda: _duplicates(chat_stack, event.id) >= 1)
    # the customer taps "send cart" twice
    second = customer.cart(cart)
    assert len(chat_stack.shop.orders()) == before, "neither the redelivery nor the double tap made an order"
    orders = chat_orders(chat_stack)
    assert len(orders) == 1
    assert orders[0].order_number in customer.last_texts(second), "the double tap shows the first order again"


def _duplicates(chat: ChatStack, event_id: int) -> int:
    with chat.runtime.db.session() as session:
        event = session.get(WebhookEvent, event_id)
        return event.duplicates if event else 0


def test_a_shop_outage_during_checkout_delays_the_order_but_never_doubles_or_loses_it(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    items = chat_stack.in_stock(2)
    before = len(chat_stack.shop.orders())
    chat_stack.shop.fail_next(12, 503)  # the shop answers 503 for a while: the adapter gives up, the task retries
    replies = customer.cart({items[0]: 1, items[1]: 1})
    assert replies[-1]["interactive"]["type"] == "cta_url"
    assert len(chat_stack.shop.orders()) == before + 1
    [order] = chat_orders(chat_stack)
    with chat_stack.runtime.db.session() as session:
        task = session.scalar(
            select(Task).where(Task.idempotency_key == f"conversation.handle:{order.inbound_message_id}")
        )
        sent = session.scalar(select(func.count()).select_from(OutboundMessage))
    assert task is not None and task.attempts >= 2, "the outage made the handler run again"
    # a worker that died after answering runs the task once more: nothing is ordered or sent twice
    engine.handle(chat_stack.runtime, order.inbound_message_id)
    assert len(chat_stack.shop.orders()) == before + 1
    with chat_stack.runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboundMessage)) == sent


@pytest.mark.parametrize(("greeting", "checkout_title"), [("Hello", "Check out"), ("Hallo", "Zur Kasse")])
def test_a_messenger_selection_becomes_an_order(chat_stack: ChatStack, greeting: str, checkout_title: str) -> None:
    customer = chat_stack.messenger_customer()
    menu = customer.say(greeting)
    assert "menu:browse" in reply_ids(menu)
    collections = customer.choose("menu:browse")
    first_collection = next(i for i in reply_ids(collections) if i.startswith("col:"))
    products = customer.choose(first_collection)
    pick = next(i for i in reply_ids(products) if i.startswith("add:"))
    added = customer.choose(pick)
    assert checkout_title in customer.last_texts(added)
    before = len(chat_stack.shop.orders())
    summary = customer.choose("cart:checkout")
    attachment = summary[-1]["message"]["attachment"]["payload"]
    assert attachment["buttons"][0]["type"] == "web_url" and attachment["buttons"][0]["url"].startswith("http")
    assert len(chat_stack.shop.orders()) == before + 1
    [order] = chat_orders(chat_stack)
    assert order.cart["lines"][0]["variant"] == pick.split(":", 1)[1]


def test_carts_delivered_concurrently_and_out_of_order_each_become_one_order(chat_stack: ChatStack) -> None:
    """Meta delivers webhooks concurrently (at-least-once, unordered): eight customers send carts at once while
    their replies' statuses arrive shuffled, and every cart still becomes exactly one order and one answer whose
    outbox row ends at the highest status the channel reported."""
    from concurrent.futures import ThreadPoolExecutor

    chat_stack.graph.set_options(webhook_concurrency=4, status_out_of_order=True)
    items = chat_stack.in_stock(3)
    customers = [chat_stack.whatsapp_customer(f"Kunde {n}") for n in range(8)]
    before = len(chat_stack.shop.orders())
    with ThreadPoolExecutor(max_workers=8) as pool:
        sent = list(pool.map(lambda c: chat_stack.graph.customer_cart(None, c.user_id, {items[0]: 1, items[1]: 1})["id"],
                             customers))  # fmt: skip
    for customer, mid in zip(customers, sent, strict=True):
        replies = customer.replies_to(mid)
        assert any(r.get("interactive", {}).get("type") == "cta_url" for r in replies), "a payment link"
    assert len(chat_stack.shop.orders()) == before + 8
    assert len(chat_orders(chat_stack)) == 8
    assert chat_stack.graph.wait_webhooks()["failed"] == 0

    def reply_statuses() -> set[str]:
        with chat_stack.runtime.db.session() as session:
            return set(session.scalars(select(OutboundMessage.status).where(OutboundMessage.kind == "chat_reply")))

    wait_for(lambda: reply_statuses() == {"read"})
