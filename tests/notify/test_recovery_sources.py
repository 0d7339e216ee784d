"""Checkout recovery from each source, over real HTTP: Shopify checkouts (``checkouts/*`` webhooks and the
``abandonedCheckouts`` query, with Shopify's recovery link), Shopware orders whose payment is still open (the
storefront's order page as the link), and an order placed in chat and not paid (the payment link, in the chat)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from graphql import build_client_schema, parse, validate
from sqlalchemy import select

from connector.db.migrate import upgrade
from connector.db.models import Contact
from connector.errors import PlatformError
from connector.notify import recovery
from connector.notify.consent import record_opt_in
from connector.plugins import Plugins
from connector.runtime import Runtime
from tests.conftest import Stack, make_config, start_stack, stop_stack, wait_for
from tests.conversation.conftest import ChatStack
from tests.notify.conftest import customer, place_order, settled
from tests.notify.test_recovery import FAST, PHONE, _with_template, checkout_of

SCHEMA_2026_10 = Path("/work/shared/schemas/shopify-admin-2026-10.introspection.json.gz")

ShopStack = Callable[..., Stack]


@pytest.fixture
def shop_stack(tmp_path: Path, plugins: Plugins) -> Iterator[ShopStack]:
    """``shop_stack(shop, webhooks=True, **notify)``: a live stack on that shop sandbox with recovery settings."""
    started: list[Stack] = []

    def make(shop: str, webhooks: bool = True, **notify: Any) -> Stack:
        config = make_config(f"sqlite:///{tmp_path / 'connector.db'}", notify={**FAST, **notify})
        rt = Runtime(config, plugins=plugins)
        upgrade(rt.db)
        stack = start_stack(rt, shop, shop_webhooks=webhooks)
        started.append(stack)
        return stack

    yield make
    for stack in started:
        stop_stack(stack)
        stack.runtime.close()


def _body_parameters(sent: dict[str, Any]) -> list[str]:
    body = next(c for c in sent["template"]["components"] if c["type"] == "body")
    return [p["text"] for p in body["parameters"]]


def test_a_shopify_checkout_is_reminded_with_its_recovery_link_through_the_marketing_messages_api(
    shop_stack: ShopStack,
) -> None:
    stack = shop_stack("shopify")
    stack.graph.set_options(marketing_messages_onboarding_status="ONBOARDED")
    stack.runtime.connections.update_settings("channel", stack.channel_id, {"marketing_messages_api": True})
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    variant = stack.shop.variant_ids()[0]
    started = stack.shop.start_checkout({variant: 2}, phone="+" + PHONE, first_name="Erika", country_code="DE")
    checkout = started["checkout"]
    assert checkout["abandoned_checkout_url"].endswith("/recover?key=" + checkout["abandoned_checkout_url"][-32:])

    [reminder] = settled(stack, "checkout_recovery")
    assert reminder.status in ("sent", "delivered", "read"), reminder.reason
    [sent] = stack.graph.messages_to(PHONE)
    assert sent["product_policy"] == "CLOUD_API_FALLBACK"  # went through /marketing_messages
    assert stack.graph.stats()["marketing_messages"]["accepted"] == 1
    name, items, total, link = _body_parameters(sent)
    title = checkout["line_items"][0]["title"]
    assert (name, items) == ("Erika", f"2x {title}")
    assert total == f"{checkout['total_price']} {checkout['currency']}"
    assert link == checkout["abandoned_checkout_url"]
    page = requests.get(link, timeout=10)  # the link brings the customer back to the cart
    assert page.status_code == 200 and title in page.text

    listed = checkout_of(stack, started["id"], state="reminded")
    assert listed["source"] == "shopify_checkout" and listed["recovery_url"] == link

    stack.shop.complete_checkout(started["id"])
    recovered = checkout_of(stack, started["id"], state="recovered")
    assert recovered["recovered_revenue"] == float(checkout["total_price"])


def test_a_shopify_checkout_whose_webhooks_were_missed_is_found_by_the_abandoned_checkouts_query(
    shop_stack: ShopStack,
) -> None:
    stack = shop_stack("shopify", webhooks=False)
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    started = stack.shop.start_checkout({stack.shop.variant_ids()[1]: 1}, phone="+" + PHONE, first_name="Erika")

    # The query as the adapter sends it (validated by the sandbox against the Admin schema) ...
    adapter: Any = stack.runtime.connections.shop_adapter(stack.shop_id)
    [found] = list(adapter.abandoned_checkouts())
    assert found.external_id == started["id"]
    assert found.recovery_url == started["checkout"]["abandoned_checkout_url"]
    assert found.customer.phone == "+" + PHONE and found.lines[0].quantity == 1

    # ... and the poll task that runs it for every shop.
    stack.runtime.queue.enqueue(recovery.POLL_TASK, {})
    [reminder] = settled(stack, "checkout_recovery")
    assert reminder.status in ("sent", "delivered", "read"), reminder.reason
    assert _body_parameters(stack.graph.messages_to(PHONE)[0])[3] == found.recovery_url


def test_the_abandoned_checkouts_query_is_valid_against_the_2026_10_schema() -> None:
    from connector_shopify import queries

    with gzip.open(SCHEMA_2026_10, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    schema = build_client_schema(data.get("data", data))
    schema._validation_errors = []  # Shopify's own schema breaks two interface rules; documents still validate
    assert validate(schema, parse(queries.ABANDONED_CHECKOUTS)) == []


def _pay_shopware(stack: Stack, order_id: str) -> None:
    """The payment arrives: the shop owner (or the payment app) moves the transaction to paid (Admin API)."""
    [order] = [o for o in stack.shop.orders() if o["id"] == order_id]
    transaction = order["transactions"][0]["id"]
    adapter: Any = stack.runtime.connections.shop_adapter(stack.shop_id)
    answer = adapter.api.request("POST", f"/api/_action/order_transaction/{transaction}/state/paid")
    assert answer.status_code == 200, answer.text
    with pytest.raises(PlatformError, match="SYSTEM__ILLEGAL_STATE_TRANSITION"):  # paid already: Shopware refuses
        adapter.api.request("POST", f"/api/_action/order_transaction/{transaction}/state/paid")


def test_a_shopware_order_with_an_open_payment_is_reminded_and_its_payment_recovers_it(
    shop_stack: ShopStack,
) -> None:
    stack = shop_stack("shopware")
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    order = place_order(stack, PHONE, "shopware-open")
    assert order.payment_url and "/account/order/" in order.payment_url

    [reminder] = settled(stack, "checkout_recovery")
    assert reminder.status in ("sent", "delivered", "read"), reminder.reason
    [sent] = stack.graph.messages_to(PHONE)
    assert _body_parameters(sent)[3] == order.payment_url
    assert checkout_of(stack, order.external_id, state="reminded")["source"] == "shopware"

    _pay_shopware(stack, order.external_id)
    recovered = checkout_of(stack, order.external_id, state="recovered")
    assert recovered["recovered_revenue"] == float(order.total.amount)


def test_an_unpaid_chat_order_is_reminded_in_the_chat_with_its_payment_link(shop_stack: ShopStack) -> None:
    stack = shop_stack("woocommerce")
    chat = ChatStack(stack)
    buyer = chat.whatsapp_customer()
    buyer.say("Hello")
    rt = stack.runtime
    with rt.db.session() as session:
        contact = session.scalar(select(Contact).where(Contact.channel_user_id == buyer.user_id))
        assert contact is not None
        record_opt_in(
            rt,
            contact_id=contact.id,
            purpose="marketing",
            source="test",
            text="Yes, WhatsApp offers and reminders",
            session=session,
        )
    [item] = chat.in_stock(1)
    replies = buyer.cart({item: 1})
    pay_link = replies[-1]["interactive"]["action"]["parameters"]["url"]

    [reminder] = settled(stack, "checkout_recovery")
    assert reminder.status in ("sent", "delivered", "read"), reminder.reason
    assert reminder.category == "service"  # the customer just wrote: inside the window, a free-form message
    reminder_sent = wait_for(
        lambda: [
            m
            for m in stack.graph.messages_to(buyer.user_id)
            if (m.get("interactive") or {}).get("action", {}).get("parameters", {}).get("url") == pay_link
            and "cart" in m["interactive"]["body"]["text"]
        ]
    )
    assert reminder_sent[0]["interactive"]["type"] == "cta_url"
    listed = wait_for(lambda: [c for c in _all(stack) if c["source"] == "chat"])
    assert listed[0]["recovery_url"] == pay_link and listed[0]["state"] == "reminded"


def _all(stack: Stack) -> list[dict[str, Any]]:
    from tests.notify.test_recovery import checkouts

    return checkouts(stack)


def test_forged_or_malformed_checkout_webhooks_are_refused_with_the_reason(shop_stack: ShopStack) -> None:
    from connector_shopify.webhooks import signature

    stack = shop_stack("shopify")
    secret = stack.shop.connection_settings()["client_secret"]
    url = stack.shop_webhook_url()

    def deliver(payload: Any, key: str = secret) -> requests.Response:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "checkouts/create",
            "X-Shopify-Hmac-Sha256": signature(body, key),
            "X-Shopify-Webhook-Id": f"test-{len(body)}-{key[:4]}",
        }
        return requests.post(url, data=body, headers=headers, timeout=10)

    good = {"id": 31000000099, "total_price": "10.00", "currency": "EUR", "line_items": [], "phone": "+" + PHONE}
    forged = deliver(good, key="not-the-secret")
    assert forged.status_code == 401
    for bad, reason in (
        ({**good, "id": "DROP TABLE"}, "not a Shopify id"),
        ({**good, "line_items": "lots"}, "line_items must be a list"),
        ({**good, "abandoned_checkout_url": "javascript:alert(1)"}, "not a link"),
        ({**good, "total_price": "1e999"}, "invalid amount"),
    ):
        answer = deliver(bad)
        assert answer.status_code == 400 and reason in answer.text, (bad, answer.status_code, answer.text)
    with stack.runtime.db.session() as session:
        from connector.db.models_notify import RecoveryCheckout

        assert session.scalars(select(RecoveryCheckout)).all() == []
