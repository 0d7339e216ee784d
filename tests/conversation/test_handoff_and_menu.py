"""The menu (with a plugin's intent), free-text search, back-in-stock sign-up, and handing over to a person."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from connector import hookimpl, model
from connector.conversation.intents import ChatContext, Intent
from connector.db.models_conversation import Handoff
from connector.plugins import Plugins
from connector.sandbox.recorder import WebhookRecorder
from tests.conftest import start_stack, stop_stack, wait_for
from tests.conversation.conftest import ChatStack, chat_runtime, reply_ids


class OpeningHours:
    """A small third-party plugin adding a menu entry through ``connector_chat_intents``."""

    @hookimpl
    def connector_chat_intents(self) -> list[Intent]:
        def opening_hours(ctx: ChatContext) -> list[model.Outbound]:
            return [model.TextMessage(ctx.text("Mon-Fri 9-18", de="Mo-Fr 9-18 Uhr"))]

        return [
            Intent(
                id="hours",
                titles={"en": "Opening hours", "de": "Öffnungszeiten"},
                keywords=("hours", "öffnungszeiten"),
                handler=opening_hours,
            )
        ]


@pytest.fixture
def hours_plugin(plugins: Plugins) -> Iterator[None]:
    plugin = OpeningHours()
    plugins.register(plugin, name="test-opening-hours")
    try:
        yield
    finally:
        plugins.unregister(plugin)


@pytest.mark.usefixtures("hours_plugin")
def test_the_menu_shows_plugin_intents_on_whatsapp_and_messenger_in_both_languages(chat_stack: ChatStack) -> None:
    whatsapp = chat_stack.whatsapp_customer()
    [menu] = whatsapp.say("Hello")
    assert menu["interactive"]["type"] == "list"
    rows = [r["id"] for s in menu["interactive"]["action"]["sections"] for r in s["rows"]]
    assert rows[:6] == [f"menu:{i}" for i in ("browse", "search", "orders", "address", "back_in_stock", "agent")]
    assert "menu:hours" in rows and len(rows) <= 10
    assert "Mon-Fri 9-18" in whatsapp.last_texts(whatsapp.choose("menu:hours"))

    messenger = chat_stack.messenger_customer()
    [menu] = messenger.say("Hallo")
    titles = [q["title"] for q in menu["message"]["quick_replies"]]
    assert "Öffnungszeiten" in titles and "Produkte ansehen" in titles
    assert "Mo-Fr 9-18 Uhr" in messenger.last_texts(messenger.say("öffnungszeiten"))


def test_unknown_text_gets_the_menu_and_free_text_searches_the_catalog(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    lost = customer.say("qwertzuiop")
    assert "didn't understand" in customer.last_texts(lost) and "menu:browse" in reply_ids(lost)
    found = customer.say("shirt")
    product_list = found[0]["interactive"]
    assert product_list["type"] == "product_list"
    shown = [p["product_retailer_id"] for s in product_list["action"]["sections"] for p in s["product_items"]]
    assert shown and len(shown) <= 30


@pytest.fixture
def owner_hook() -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as recorder:
        yield recorder


@pytest.fixture
def handoff_stack(tmp_path: Path, plugins: Plugins, owner_hook: WebhookRecorder) -> Iterator[ChatStack]:
    rt = chat_runtime(tmp_path, plugins, owner_webhook_url=f"{owner_hook.url}/handoff", handoff_silence_minutes=30)
    stack = start_stack(rt, shop_webhooks=False)
    try:
        yield ChatStack(stack)
    finally:
        stop_stack(stack)
        rt.close()


@pytest.mark.parametrize(
    ("channel", "word", "answer"),
    [("whatsapp", "Mitarbeiter", "aus unserem Team"), ("messenger", "agent", "from our team")],
)
def test_handoff_silences_the_bot_and_tells_the_owner(
    handoff_stack: ChatStack, owner_hook: WebhookRecorder, channel: str, word: str, answer: str
) -> None:
    customer = handoff_stack.whatsapp_customer() if channel == "whatsapp" else handoff_stack.messenger_customer()
    if word == "Mitarbeiter":
        customer.say("Hallo")
    reply = customer.say(word)
    assert answer in customer.last_texts(reply)
    [request] = owner_hook.wait_for(1)
    told = json.loads(request.body)
    assert told["event"] == "chat.handoff" and told["user_id"] == customer.user_id and told["text"] == word

    def notified() -> bool:
        with handoff_stack.runtime.db.session() as session:
            return session.scalar(select(Handoff.notify_status)) == "notified"

    wait_for(notified)
    # the bot stays silent while a person has the conversation
    assert customer.say("Hello?") == []
    assert customer.say("shirt") == []


@pytest.mark.parametrize(
    ("greeting", "done", "ask"),
    [
        ("Hello", "I'll message you when", "Please tell me when {} is back in stock"),
        ("Hallo", "Ich melde mich", "Bescheid wenn {} wieder da ist"),
    ],
)
def test_sold_out_products_are_marked_and_notify_me_subscribes(
    chat_stack: ChatStack, greeting: str, done: str, ask: str
) -> None:
    """Sold-out products stay in the list's "Sold out" section and are named in the same message (since #23 no
    second, billed "notify me" message follows): the customer asks in their own words and is subscribed."""
    from connector.db.models_notify import BackInStockSubscription

    customer = chat_stack.whatsapp_customer()
    customer.say(greeting)
    sold_out: list[str] = []
    for collection in [i for i in reply_ids(customer.choose("menu:browse")) if i.startswith("col:")]:
        page = customer.choose(collection)
        assert len(page) == 1, "one message per page of products"
        sections = page[0]["interactive"]["action"].get("sections") or []
        if sections and sections[-1]["title"] in ("Sold out", "Ausverkauft"):
            sold_out = [item["product_retailer_id"] for item in sections[-1]["product_items"]]
            break
        customer.say(greeting)
        customer.choose("menu:browse")
    assert sold_out, "the seed catalog has sold-out variants"
    title = chat_stack.stack.catalog()[sold_out[0]]["title"]
    assert title in customer.last_texts(page)
    answer = customer.say(ask.format(title))
    choices = [i for i in reply_ids(answer) if i.startswith("notify:")]
    if choices:  # several sold-out variants share the title: the customer picks one
        answer = customer.choose(choices[0])
    assert done in customer.last_texts(answer)
    with chat_stack.runtime.db.session() as session:
        subscription = session.scalar(select(BackInStockSubscription))
    assert subscription is not None and subscription.variant_external_id in sold_out
