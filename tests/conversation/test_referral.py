"""A customer who writes from a product or an ad: the product comes back with "Buy" or "notify me", once.

WhatsApp puts the product in ``context.referred_product`` ("Message business" on a catalog item) and a
Click-to-WhatsApp ad in ``referral``; Instagram puts a Shop product in ``message.referral.product``. The customer
drives the stack through the Graph sandbox's control API, as a real customer drives WhatsApp or Instagram.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sqlalchemy import select

from connector import model
from connector.db.models import InboundMessage, OutboundMessage
from connector.db.models_notify import BackInStockSubscription
from connector.i18n import formatting
from connector.serialization import from_json
from tests.conversation.conftest import ChatStack, Customer, reply_ids
from tests.conversation.test_meta_channels import InstagramCustomer, add_instagram, carousels, shop_variant

AD = {
    "source_url": "https://fb.me/3cr4Wqqkv",
    "source_id": "120212345678901234",
    "source_type": "ad",
    "headline": "Spring sale",
    "body": "Everything 20% off",
    "media_type": "image",
    "image_url": "https://scontent.example/ad.jpg",
    "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a",
}


def whatsapp_writes(customer: Customer, text: str, **extra: Any) -> str:
    """The customer writes ``text`` with ``referred_product`` / ``referral`` as WhatsApp sends them; the wamid."""
    body = {"wa_id": customer.user_id, "type": "text", "text": text, "name": customer.name, **extra}
    return customer.chat.graph.control("POST", "whatsapp/messages", json=body)["message"]["id"]


def stored(chat: ChatStack, channel_id: int) -> list[tuple[str, model.Inbound]]:
    """Every inbound message stored for the channel: (channel message id, canonical message)."""
    with chat.runtime.db.session() as session:
        rows = session.execute(
            select(InboundMessage.message_id, InboundMessage.data)
            .where(InboundMessage.channel_connection_id == channel_id)
            .order_by(InboundMessage.id)
        ).all()
    return [(message_id, from_json(data)) for message_id, data in rows]


def add_by_hand(chat: ChatStack, retailer_id: str) -> None:
    """The owner adds an item to the Meta catalog in Commerce Manager: the catalog shows it, the shop never had it."""
    settings = chat.graph.connection_settings()
    item = {
        "title": "Gift card",
        "description": "Added in Commerce Manager",
        "availability": "in stock",
        "price": "25.00 EUR",
        "link": "https://shop.example/gift-card",
        "image_link": "https://shop.example/gift-card.jpg",
    }
    response = requests.post(
        f"{settings['graph_url']}/{settings['api_version']}/{settings['catalog_id']}/items_batch",
        json={
            "access_token": settings["access_token"],
            "item_type": "PRODUCT_ITEM",
            "requests": [{"method": "CREATE", "data": {"id": retailer_id, **item}}],
        },
        timeout=10,
    )
    response.raise_for_status()


def money_text(variant: model.Variant, language: str) -> str:
    """The variant's price as the chat writes it in ``language`` (Babel's format, the same everywhere)."""
    price = variant.effective_price
    assert price is not None
    return formatting.money(price, price.currency, language)


@pytest.mark.parametrize(
    ("greeting", "buy", "price_text", "added"),
    [("Hello", "Buy", 'Tap "Buy" to add it', "Check out"), ("Hallo", "Kaufen", "Tippen Sie auf „Kaufen“", "Zur Kasse")],
)
def test_a_question_from_a_whatsapp_product_gets_that_product_once_and_buy_adds_it(
    chat_stack: ChatStack, greeting: str, buy: str, price_text: str, added: str
) -> None:
    product = chat_stack.in_stock(1)[0]
    variant = shop_variant(chat_stack, product)
    customer = chat_stack.whatsapp_customer()
    customer.say(greeting)
    wamid = whatsapp_writes(customer, "Is this available in blue?", referred_product={"product_retailer_id": product})
    replies = customer.replies_to(wamid)

    # exactly the product and its choice: no second answer (the menu) for the referral
    assert [r["interactive"]["type"] for r in replies] == ["product", "button"]
    card, choice = replies
    catalog_id = chat_stack.graph.connection_settings()["catalog_id"]
    assert card["interactive"]["action"] == {"catalog_id": catalog_id, "product_retailer_id": product}
    assert variant.title in card["interactive"]["body"]["text"]
    assert price_text in choice["interactive"]["body"]["text"]
    # the price as the customer's language writes it (Babel), never "45.57 EUR"
    language = "de" if greeting == "Hallo" else "en"
    assert money_text(variant, language) in choice["interactive"]["body"]["text"]
    assert choice["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": f"add:{product}", "title": buy}}
    ]

    # the message is stored once, with the product it was written from
    messages = [m for mid, m in stored(chat_stack, customer.channel_id) if mid.startswith(wamid)]
    assert len(messages) == 1 and isinstance(messages[0], model.InboundText)
    assert messages[0].referral is not None and messages[0].referral.product_retailer_id == product
    assert messages[0].referral.catalog_id == catalog_id

    cart = customer.choose(f"add:{product}")
    assert variant.title in customer.last_texts(cart) and added in customer.last_texts(cart)


@pytest.mark.parametrize(
    ("greeting", "sold_out", "done"),
    [("Hello", "Sold out", "I'll message you when"), ("Hallo", "ausverkauft", "Ich melde mich")],
)
def test_a_sold_out_product_offers_notify_me(chat_stack: ChatStack, greeting: str, sold_out: str, done: str) -> None:
    product = chat_stack.in_stock(1)[0]
    chat_stack.shop.set_stock(product, 0)
    chat_stack.stack.full_sync()
    customer = chat_stack.whatsapp_customer()
    customer.say(greeting)
    replies = customer.replies_to(whatsapp_writes(customer, "?", referred_product={"product_retailer_id": product}))
    assert [r["interactive"]["type"] for r in replies] == ["product", "button"]
    assert sold_out in replies[1]["interactive"]["body"]["text"]
    assert reply_ids(replies) == [f"notify:{product}"]

    assert done in customer.last_texts(customer.choose(f"notify:{product}"))
    with chat_stack.runtime.db.session() as session:
        [subscription] = session.scalars(select(BackInStockSubscription)).all()
    assert subscription.variant_external_id == product


@pytest.mark.parametrize(
    ("greeting", "unknown"), [("Hello", "cannot find the product"), ("Hallo", "finde ich im Shop")]
)
def test_a_product_the_shop_does_not_list_gets_a_clear_text_and_the_menu(
    chat_stack: ChatStack, greeting: str, unknown: str
) -> None:
    add_by_hand(chat_stack, "commerce-manager-1")
    customer = chat_stack.whatsapp_customer()
    customer.say(greeting)
    replies = customer.replies_to(
        whatsapp_writes(customer, "Price?", referred_product={"product_retailer_id": "commerce-manager-1"})
    )
    [menu] = replies
    assert unknown in menu["interactive"]["body"]["text"]
    assert "menu:browse" in reply_ids(replies)


def test_a_click_to_whatsapp_ad_gets_the_normal_answer_and_the_ad_is_kept(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    wamid = whatsapp_writes(customer, "Hello", referral=AD)
    [menu] = customer.replies_to(wamid)
    assert "menu:browse" in reply_ids([menu])
    assert len(chat_stack.graph.messages_to(customer.user_id)) == 1  # one answer, not a second menu for the ad

    [(_, message)] = stored(chat_stack, customer.channel_id)
    assert isinstance(message, model.InboundText) and message.text == "Hello"
    assert message.referral == model.Referral(
        source_type="ad",
        source_id=AD["source_id"],
        source_url=AD["source_url"],
        headline="Spring sale",
        body="Everything 20% off",
        ad_click_id=AD["ctwa_clid"],
        raw=AD,
    )


def test_the_sandbox_refuses_a_referral_meta_would_never_send(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    for extra, problem in [
        ({"referred_product": {"product_retailer_id": "no-such-item"}}, "not in catalog"),
        ({"referral": {**AD, "source_type": "story"}}, "source_type must be ad or post"),
        ({"referral": {**AD, "campaign": "x"}}, "unknown fields campaign"),
    ]:
        with pytest.raises(requests.HTTPError) as refused:
            whatsapp_writes(customer, "hi", **extra)
        assert refused.value.response.status_code == 400 and problem in refused.value.response.json()["error"]
    user = chat_stack.messenger_customer().user_id
    for body, problem in [
        ({"text": "hi", "referral": {"product": {"id": "1"}}}, "Instagram only"),
        ({"object": "instagram", "text": "hi", "referral": {"product": {"id": "no-such-item"}}}, "not in catalog"),
        ({"referral": {"ref": "x"}}, "needs source"),
        ({"referral": {"source": "SHORTLINK", "type": "OPEN_THREAD", "ads_context_data": {"ad_title": "x"}}}, "ADS"),
    ]:
        with pytest.raises(requests.HTTPError) as refused:
            chat_stack.graph.control("POST", "messenger/messages", json={"sender": user, **body})
        assert refused.value.response.status_code == 400 and problem in refused.value.response.json()["error"]


def test_an_instagram_shop_product_gets_its_card_with_buy(chat_stack: ChatStack) -> None:
    product = chat_stack.in_stock(1)[0]
    variant = shop_variant(chat_stack, product)
    customer = InstagramCustomer(chat_stack, add_instagram(chat_stack))
    event = chat_stack.graph.control(
        "POST",
        "messenger/messages",
        json={
            "object": "instagram",
            "sender": customer.user_id,
            "text": "Size?",
            "referral": {"product": {"id": product}},
        },
    )["event"]
    assert event["message"]["referral"] == {"product": {"id": product}}
    replies = customer.replies_to(event["message"]["mid"])

    assert f'You asked about {variant.title}. Tap "Buy"' in replies[0]["message"]["text"]
    [[card]] = carousels(replies)
    assert card["title"] == variant.title[:80] and card["subtitle"] == money_text(variant, "en")
    assert card["buttons"][-1] == {"type": "postback", "title": "Buy", "payload": f"add:{product}"}
    [(_, message)] = stored(chat_stack, customer.channel_id)
    assert isinstance(message, model.InboundText) and message.referral is not None
    assert message.referral.product_retailer_id == product

    cart = customer.choose(f"add:{product}")
    assert variant.title in customer.last_texts(cart) and "Check out" in customer.last_texts(cart)


def test_a_messenger_product_ad_opening_the_thread_gets_the_product_card(chat_stack: ChatStack) -> None:
    product = chat_stack.in_stock(1)[0]
    variant = shop_variant(chat_stack, product)
    customer = chat_stack.messenger_customer()
    customer.say("Hello")
    ad = {
        "ref": "spring",
        "ad_id": "6045246247433",
        "source": "ADS",
        "type": "OPEN_THREAD",
        "ads_context_data": {"ad_title": "Spring sale", "post_id": "1093_3333", "product_id": product},
    }
    event = chat_stack.graph.control("POST", "messenger/messages", json={"sender": customer.user_id, "referral": ad})[
        "event"
    ]
    assert event["referral"] == ad and "message" not in event
    mid = f"referral:{customer.user_id}:{event['recipient']['id']}:{event['timestamp']}"
    replies = customer.replies_to(mid)
    [[card]] = carousels(replies)
    assert card["title"] == variant.title[:80]
    assert card["buttons"][-1]["payload"] == f"add:{product}"

    [*_, (_, message)] = stored(chat_stack, customer.channel_id)
    assert isinstance(message, model.InboundOther) and message.type == "referral"
    assert message.referral == model.Referral(
        source_type="ADS",
        source_id="6045246247433",
        headline="Spring sale",
        ref="spring",
        product_retailer_id=product,
        raw=ad,
    )


def test_a_stored_companion_row_of_the_old_shape_loads_and_gets_no_second_answer(chat_stack: ChatStack) -> None:
    """Before referrals were typed, WhatsApp stored ``<wamid>#referral`` as an ``InboundOther`` with the raw dict;
    such a row still loads (the referral typed from the raw dict) and the engine does not answer it again."""
    from connector.conversation.engine import handle
    from connector.db.models import Contact

    customer = chat_stack.whatsapp_customer()
    wamid = whatsapp_writes(customer, "Hello")
    customer.replies_to(wamid)
    raw = {**AD, "referred_product": {"catalog_id": "354160437058781", "product_retailer_id": "11"}}
    old = {
        "__type__": "InboundOther",
        "message_id": f"{wamid}#referral",
        "sender": {"__type__": "Contact", "channel": "whatsapp", "channel_user_id": customer.user_id},
        "timestamp": None,
        "type": "referral",
        "referral": raw,
    }
    with chat_stack.runtime.db.session() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.channel_user_id == customer.user_id))
        row = InboundMessage(
            channel_connection_id=customer.channel_id,
            contact_id=contact_id,
            message_id=old["message_id"],
            type="InboundOther",
            data=old,
        )
        session.add(row)
        session.flush()
        row_id = row.id
    message = from_json(old)
    assert message.referral.product_retailer_id == "11" and message.referral.ad_click_id == AD["ctwa_clid"]
    assert message.referral.source_type == "ad" and message.referral.raw == raw

    handle(chat_stack.runtime, row_id)
    with chat_stack.runtime.db.session() as session:
        queued = session.scalars(
            select(OutboundMessage.id).where(OutboundMessage.idempotency_key.like(f"chat:{row_id}:%"))
        ).all()
    assert queued == []
