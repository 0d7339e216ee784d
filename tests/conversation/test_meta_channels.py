"""Messenger and Instagram chat commerce end to end: browse and search answer with generic-template carousels (as
the Graph sandbox records them), a card's "Buy" becomes an order with a payment link, a sold-out card's "Notify me"
subscribes to back-in-stock; Instagram also hands over to a person and changes a delivery address."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from connector import model
from connector.db.models import ShopVariant
from connector.db.models_conversation import ChatOrder, Handoff
from connector.db.models_notify import BackInStockSubscription
from connector.i18n import formatting
from connector.serialization import from_json
from tests.conversation.conftest import ChatStack, Customer, reply_ids

_igsids = itertools.count(8100000000001)


class InstagramCustomer(Customer):
    """A customer writing to the shop's Instagram account (same Send API and webhooks, ``object: instagram``)."""

    def __init__(self, chat: ChatStack, instagram_id: int):
        super().__init__(chat, "instagram", str(next(_igsids)), "")
        self.instagram_id = instagram_id

    @property
    def channel_id(self) -> int:
        return self.instagram_id

    def say(self, text: str) -> list[dict[str, Any]]:
        mid = self.chat.graph.messenger_text(self.user_id, text, object="instagram")["message"]["mid"]
        return self.replies_to(mid)

    def choose(self, reply_id: str) -> list[dict[str, Any]]:
        event = self.chat.graph.messenger_choose(self.user_id, reply_id, object="instagram")
        mid = (event.get("message") or event.get("postback") or {}).get("mid")
        return self.replies_to(mid)


def add_instagram(chat: ChatStack) -> int:
    """An Instagram connection on the stack's shop, its webhooks subscribed in the Graph sandbox."""
    settings = chat.graph.connection_settings()
    row = chat.runtime.connections.create_channel(
        shop_connection_id=chat.stack.shop_id,
        name="Test Instagram",
        channel="instagram",
        settings={
            "instagram_account_id": settings["instagram_account_id"],
            "page_access_token": settings["access_token"],
            "app_secret": settings["app_secret"],
            "verify_token": settings["verify_token"],
            "graph_url": settings["graph_url"],
            "api_version": settings["api_version"],
        },
    )
    chat.graph.subscribe_webhooks(
        chat.runtime.connections.webhook_url("instagram", row.id),
        object="instagram",
        verify_token=settings["verify_token"],
    )
    return row.id


def customer_on(chat: ChatStack, channel: str) -> Customer:
    return chat.messenger_customer() if channel == "messenger" else InstagramCustomer(chat, add_instagram(chat))


def carousels(replies: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The elements of every generic template in ``replies`` (what the Send API was given), one list per carousel."""
    found = []
    for body in replies:
        payload = ((body.get("message") or {}).get("attachment") or {}).get("payload") or {}
        if payload.get("template_type") == "generic":
            found.append(payload["elements"])
    return found


def shop_variant(chat: ChatStack, external_id: str) -> model.Variant:
    with chat.runtime.db.session() as session:
        data = session.scalar(
            select(ShopVariant.data).where(
                ShopVariant.shop_connection_id == chat.stack.shop_id, ShopVariant.external_id == external_id
            )
        )
    return from_json(data)


@pytest.mark.parametrize("channel", ["messenger", "instagram"])
def test_browse_shows_carousels_and_buy_on_a_card_orders_with_a_payment_link(
    chat_stack: ChatStack, channel: str
) -> None:
    customer = customer_on(chat_stack, channel)
    customer.say("Hello")
    collections = customer.choose("menu:browse")
    products = customer.choose(next(i for i in reply_ids(collections) if i.startswith("col:")))

    # the sandbox received a lead text, then the cards: at most 10 per generic template
    assert 'Tap "Buy" to add one to your cart' in products[0]["message"]["text"]
    cards = [element for carousel in carousels(products) for element in carousel]
    assert cards and all(len(c) <= 10 for c in carousels(products))
    first = cards[0]
    buy = first["buttons"][-1]
    assert buy["type"] == "postback" and buy["title"] == "Buy" and buy["payload"].startswith("add:")
    variant = shop_variant(chat_stack, buy["payload"].split(":", 1)[1])
    assert first["title"] == variant.title[:80]
    price = variant.effective_price
    assert price is not None and first["subtitle"] == formatting.money(price, price.currency, "en")  # Babel's format
    assert first["image_url"] == variant.image_url
    assert first["buttons"][0] == {"type": "web_url", "url": variant.link, "title": "View"}
    assert first["default_action"] == {"type": "web_url", "url": variant.link}

    added = customer.choose(buy["payload"])  # the postback, as Meta delivers a card tap
    assert "Check out" in customer.last_texts(added) and variant.title in customer.last_texts(added)
    before = len(chat_stack.shop.orders())
    summary = customer.choose("cart:checkout")
    pay = summary[-1]["message"]["attachment"]["payload"]
    assert "Thank you! Order" in pay["text"]
    assert pay["buttons"][0]["type"] == "web_url" and pay["buttons"][0]["url"].startswith("http")
    assert len(chat_stack.shop.orders()) == before + 1
    with chat_stack.runtime.db.session() as session:
        [order] = session.scalars(select(ChatOrder)).all()
    assert order.status == "created" and order.payment_url == pay["buttons"][0]["url"]
    assert order.cart["lines"][0]["variant"] == variant.external_id
    assert chat_stack.graph.stats()[channel]["refused"] == {}


@pytest.mark.parametrize("chat_stack", [{"chat": {"products_per_page": 12}}], indirect=True)
def test_search_results_page_in_carousels_of_ten_with_a_more_button(chat_stack: ChatStack) -> None:
    customer = chat_stack.messenger_customer()
    customer.say("Hallo")
    expected = [o.id for o in _search(chat_stack, "shirt")]
    assert len(expected) > 12, "the demo catalog has enough shirts for two pages"
    first_page = customer.say("shirt")
    assert [len(c) for c in carousels(first_page)] == [10, 2]
    assert "Seite 1 von 2" in first_page[0]["message"]["text"]
    more = [i for i in reply_ids(first_page) if i.startswith("find:")]
    assert more == ["find:shirt:1"]
    second_page = customer.choose(more[0])
    assert "Seite 2 von 2" in second_page[0]["message"]["text"]
    assert not [i for i in reply_ids(second_page) if i.startswith("find:")], "the last page has no More button"
    shown = [
        b["payload"].split(":", 1)[1]
        for c in carousels(first_page + second_page)
        for e in c
        for b in e["buttons"]
        if b["type"] == "postback"
    ]
    assert shown == expected, "pages follow each other without gaps or repeats, available products first"
    titles = {b["title"] for c in carousels(first_page) for e in c for b in e["buttons"]}
    assert titles <= {"Ansehen", "Kaufen", "Benachrichtigen"}


def _search(chat: ChatStack, query: str) -> list[Any]:
    """The offers a search finds, in the engine's own order (listed variants, available ones first)."""
    from connector.conversation import catalog

    class Context:
        runtime = chat.runtime
        shop_connection_id = chat.stack.shop_id
        channel_connection_id = chat.messenger_id
        channel = "messenger"

    return catalog.offers(Context(), query=query)  # type: ignore[arg-type]


def test_a_sold_out_card_offers_notify_me_which_subscribes(chat_stack: ChatStack) -> None:
    sold_out = chat_stack.in_stock(1)[0]
    chat_stack.shop.set_stock(sold_out, 0)
    chat_stack.stack.full_sync()
    title = shop_variant(chat_stack, sold_out).title
    customer = chat_stack.messenger_customer()
    customer.say("Hello")
    found = customer.say(title)
    [card] = [e for c in carousels(found) for e in c if e["title"] == title[:80]]
    assert card["subtitle"].startswith("sold out · ")
    notify = card["buttons"][-1]
    assert notify == {"type": "postback", "title": "Notify me", "payload": f"notify:{sold_out}"}
    assert not any(b["payload"] == f"add:{sold_out}" for b in card["buttons"] if b["type"] == "postback")

    done = customer.choose(notify["payload"])
    assert "I'll message you when" in customer.last_texts(done)
    with chat_stack.runtime.db.session() as session:
        [subscription] = session.scalars(select(BackInStockSubscription)).all()
    assert subscription.variant_external_id == sold_out and subscription.status == "active"
    assert subscription.source.startswith("chat:messenger:")


def test_instagram_hands_over_to_a_person_and_stays_silent(chat_stack: ChatStack) -> None:
    customer = customer_on(chat_stack, "instagram")
    customer.say("Hello")
    reply = customer.say("agent")
    assert "from our team" in customer.last_texts(reply)
    with chat_stack.runtime.db.session() as session:
        [handoff] = session.scalars(select(Handoff)).all()
    assert handoff.reason == "keyword" and handoff.channel_connection_id == customer.channel_id
    assert customer.say("Hello?") == []


def test_instagram_changes_the_address_of_an_order_bought_in_chat(chat_stack: ChatStack) -> None:
    customer = customer_on(chat_stack, "instagram")
    customer.say("Hello")
    products = customer.choose(next(i for i in reply_ids(customer.choose("menu:browse")) if i.startswith("col:")))
    customer.choose(next(i for i in reply_ids(products) if i.startswith("add:")))
    customer.choose("cart:checkout")
    customer.say("Hello")
    customer.choose("menu:address")
    for answer in ("Erika Mustermann", "Gartenweg 7", "80331", "München"):
        customer.say(answer)
    confirm = customer.say("DE")
    assert "addr:yes" in reply_ids(confirm)
    assert "Done: order" in customer.last_texts(customer.choose("addr:yes"))
    with chat_stack.runtime.db.session() as session:
        order = session.scalars(select(ChatOrder)).one()
    changed = chat_stack.runtime.connections.shop_adapter(chat_stack.stack.shop_id).get_order(order.order_external_id)
    assert changed.shipping_address is not None and changed.shipping_address.city == "München"


@pytest.mark.parametrize("chat_stack", [{"shop": "shopware"}], indirect=True)
def test_messenger_asks_a_shopware_address_step_by_step_then_orders(chat_stack: ChatStack) -> None:
    customer = chat_stack.messenger_customer()
    customer.say("Hello")
    collections = customer.choose("menu:browse")
    products = customer.choose(next(i for i in reply_ids(collections) if i.startswith("col:")))
    buy = next(c for carousel in carousels(products) for c in carousel)["buttons"][-1]
    customer.choose(buy["payload"])
    before = len(chat_stack.shop.orders())
    asked = customer.choose("cart:checkout")
    # Messenger has no forms: the text dialogue, as before.
    assert "delivery address" in customer.last_texts(asked) and "full name" in customer.last_texts(asked)
    for answer in ("Erika Mustermann", "Hauptstraße 5", "10115", "Berlin", "DE"):
        customer.say(answer)
    summary = customer.choose("addr:yes")
    pay = summary[-1]["message"]["attachment"]["payload"]
    assert "Thank you! Order" in pay["text"] and pay["buttons"][0]["url"].startswith("http")
    assert len(chat_stack.shop.orders()) == before + 1
