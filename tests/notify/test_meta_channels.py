"""Notifications on Messenger and Instagram over real HTTP: a customer who bought in the chat is told about their
shipment in that chat (free-form inside the 24-hour window; outside it never a message tag: a Messenger utility
message where one is configured, see test_messenger_utility.py, else skipped with the reason), and back-in-stock
alerts go inside the window only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from connector.db.migrate import upgrade
from connector.db.models import Contact
from connector.db.models_conversation import ChatOrder
from connector.plugins import Plugins
from connector.runtime import Runtime
from tests.conftest import make_config, start_stack, stop_stack, wait_for
from tests.conversation.conftest import ChatStack, Customer, reply_ids
from tests.conversation.test_meta_channels import InstagramCustomer, add_instagram, carousels, shop_variant
from tests.notify.conftest import rows, settled


@pytest.fixture
def shop_stack(tmp_path: Path, plugins: Plugins) -> Iterator[ChatStack]:
    """WooCommerce sandbox (sending its webhooks) -> connector (WhatsApp + Messenger) -> Graph sandbox."""
    rt = Runtime(make_config(f"sqlite:///{tmp_path / 'connector.db'}"), plugins=plugins)
    upgrade(rt.db)
    stack = start_stack(rt, shop_webhooks=True)
    try:
        yield ChatStack(stack)
    finally:
        stop_stack(stack)
        rt.close()


def buy(customer: Customer, greeting: str = "Hello") -> ChatOrder:
    """Browse, tap "Buy" on the first card, check out: the chat order (its payment link was sent)."""
    customer.say(greeting)
    products = customer.choose(next(i for i in reply_ids(customer.choose("menu:browse")) if i.startswith("col:")))
    customer.choose(next(i for i in reply_ids(products) if i.startswith("add:")))
    customer.choose("cart:checkout")
    with customer.chat.runtime.db.session() as session:
        return session.scalars(
            select(ChatOrder).where(ChatOrder.contact_id == _contact_id(customer), ChatOrder.status == "created")
        ).one()


def _contact_id(customer: Customer) -> int:
    with customer.chat.runtime.db.session() as session:
        return session.scalars(
            select(Contact.id).where(
                Contact.channel_connection_id == customer.channel_id, Contact.channel_user_id == customer.user_id
            )
        ).one()


def close_window(chat: ChatStack, customer: Customer, *, graph: bool = True) -> None:
    """Two days pass since the customer's last message: for the connector's record and (``graph``) for the Graph
    sandbox, which then refuses anything untagged to them as Meta would."""
    with chat.runtime.db.session() as session:
        session.execute(
            update(Contact)
            .where(Contact.id == _contact_id(customer))
            .values(last_inbound_at=datetime.now(UTC) - timedelta(days=2))
        )
    if graph:
        chat.graph.advance_clock(2 * 86400)


def test_inside_the_window_a_messenger_buyer_gets_the_tracking_link_in_the_chat(shop_stack: ChatStack) -> None:
    customer = shop_stack.messenger_customer()
    order = buy(customer)
    seen = len(shop_stack.graph.messages_to(customer.user_id))
    shop_stack.shop.ship_order(order.order_external_id, company="DHL", number="TRK0042", url="https://dhl.example/t/42")

    [row] = settled(shop_stack, "order_shipped")
    assert (
        row.status == "sent" and row.recipient == customer.user_id and row.channel_connection_id == customer.channel_id
    )
    [sent] = shop_stack.graph.messages_to(customer.user_id)[seen:]
    assert sent["messaging_type"] == "UPDATE" and "tag" not in sent
    template = sent["message"]["attachment"]["payload"]
    assert template["template_type"] == "button" and "TRK0042" in template["text"]
    assert template["buttons"] == [{"type": "web_url", "url": "https://dhl.example/t/42", "title": "Track parcel"}]
    # free, and a PSID is not read as a phone number (7100000000001 would be Russia)
    assert row.category == "service" and row.cost == 0.0 and row.country is None and row.outside_window is False


def test_outside_the_window_messenger_never_tags_the_update_and_without_a_utility_template_skips_it(
    shop_stack: ChatStack,
) -> None:
    # (was: sent with the POST_PURCHASE_UPDATE tag, which Meta refuses since 2026-04-27 with code 100 / 1893061)
    customer = shop_stack.messenger_customer()
    order = buy(customer, "Hallo")
    seen = len(shop_stack.graph.messages_to(customer.user_id))
    close_window(shop_stack, customer)
    shop_stack.shop.ship_order(order.order_external_id, company="DHL", number="TRK0043", url="https://dhl.example/t/43")

    [row] = settled(shop_stack, "order_shipped")
    assert row.status == "skipped"
    assert row.reason is not None and row.reason.startswith("outside the 24-hour window and ")
    assert "Messenger utility" in row.reason
    assert shop_stack.graph.messages_to(customer.user_id)[seen:] == []
    assert shop_stack.graph.stats()["messenger"]["refused"] == {}


def test_outside_the_window_instagram_has_no_tag_for_it_so_the_update_is_skipped(shop_stack: ChatStack) -> None:
    customer = InstagramCustomer(shop_stack, add_instagram(shop_stack))
    order = buy(customer)
    seen = len(shop_stack.graph.messages_to(customer.user_id))
    close_window(shop_stack, customer)
    shop_stack.shop.ship_order(order.order_external_id, company="DHL", number="TRK0044", url="https://dhl.example/t/44")

    [row] = settled(shop_stack, "order_shipped")
    assert row.status == "skipped"
    assert row.reason == "outside the 24-hour window and Instagram accepts no message tag for order updates"
    assert shop_stack.graph.messages_to(customer.user_id)[seen:] == []
    assert shop_stack.graph.stats()["instagram"]["refused"] == {}


def test_back_in_stock_on_messenger_goes_inside_the_window_and_is_skipped_outside(shop_stack: ChatStack) -> None:
    variant = shop_stack.in_stock(1)[0]
    shop_stack.shop.set_stock(variant, 0)
    shop_stack.stack.full_sync()
    title = shop_variant(shop_stack, variant).title
    writer, silent = shop_stack.messenger_customer(), shop_stack.messenger_customer()
    for customer, greeting in ((writer, "Hallo"), (silent, "Hello")):
        customer.say(greeting)
        [card] = [e for c in carousels(customer.say(title)) for e in c if e["title"] == title[:80]]
        done = customer.last_texts(customer.choose(card["buttons"][-1]["payload"]))
        assert ("Ich melde mich" if greeting == "Hallo" else "I'll message you when") in done
    seen = {c.user_id: len(shop_stack.graph.messages_to(c.user_id)) for c in (writer, silent)}
    # (the sandbox clock stays: it would close the window of the customer who wrote too)
    close_window(shop_stack, silent, graph=False)

    shop_stack.shop.set_stock(variant, 5)
    settled(shop_stack, "back_in_stock", count=2)
    by_recipient = {r.recipient: r for r in rows(shop_stack, kind="back_in_stock")}
    assert by_recipient[writer.user_id].status == "sent"
    [alert] = shop_stack.graph.messages_to(writer.user_id)[seen[writer.user_id] :]
    # in the language the customer chatted in (Messenger tells no locale)
    assert alert["messaging_type"] == "UPDATE"
    assert f"{title} ist wieder da" in alert["message"]["attachment"]["payload"]["text"]
    skipped = by_recipient[silent.user_id]
    assert skipped.status == "skipped"
    assert skipped.reason == "promotional messages cannot be sent outside the 24-hour window on Messenger"
    assert shop_stack.graph.messages_to(silent.user_id)[seen[silent.user_id] :] == []
    wait_for(lambda: shop_stack.graph.stats()["messenger"]["refused"] == {})
