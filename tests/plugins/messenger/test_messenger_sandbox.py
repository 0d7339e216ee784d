"""The adapters over real HTTP against the Graph sandbox: connection test, every message type as the
customer receives it, taps coming back as webhooks, the 24 h window and the HUMAN_AGENT tag."""

from __future__ import annotations

import pytest
import requests
from connector_messenger.adapter import InstagramAdapter, MessengerAdapter
from connector_messenger.outbound import MessageTag, MessagingType, MetaSend, ProductCard
from connector_messenger.webhooks import delivery_id
from connector_meta.catalog import catalog_fields

from connector import model
from connector.adapters import CatalogPush
from connector.errors import ConnectionTestError, MessageLimitError, NotSendable, SendAction, SendError

PSID = "24870000000000001"
IGSID = "17890000000000001"
HOUR = 3600.0
DAY = 24 * HOUR


def customer(channel: str = "messenger") -> model.Contact:
    return model.Contact(channel=channel, channel_user_id=PSID if channel == "messenger" else IGSID)


def card(n: int) -> ProductCard:
    return ProductCard(
        retailer_id=f"shop42-v{n}",
        title=f"Linen shirt {n}",
        price=model.Money("49.90", "EUR"),
        image_url=f"https://shop.example/img/{n}.jpg",
        url=f"https://shop.example/p/{n}",
    )


def received(graph, user: str = PSID) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "_sandbox"} for m in graph.messages_to(user)]


# --------------------------------------------------------------------------- connection and catalog


def test_connection_reads_the_page_and_the_account(messenger: MessengerAdapter, instagram: InstagramAdapter) -> None:
    assert messenger.test_connection().name == "Chatshop Demo"
    assert instagram.test_connection().name == "chatshop.demo"


def test_connection_with_a_wrong_token_or_id_says_what_to_fix(settings) -> None:
    with pytest.raises(ConnectionTestError, match="token was refused"):
        MessengerAdapter(settings("messenger", page_access_token="EAAG-expired")).test_connection()
    with pytest.raises(ConnectionTestError, match="was not found"):
        MessengerAdapter(settings("messenger", page_id="999000")).test_connection()


def test_catalog_is_the_shared_meta_catalog(graph, messenger: MessengerAdapter, instagram: InstagramAdapter, settings):
    catalog = messenger.catalog()
    assert (
        catalog is not None
        and catalog.catalog_id == instagram.catalog().catalog_id == settings("messenger")["catalog_id"]
    )
    assert MessengerAdapter(settings("messenger", catalog_id="")).catalog() is None
    variant = model.Variant(
        external_id="shop42-v1",
        product_external_id="shop42-p1",
        title="Linen shirt",
        price=model.Money("49.90", "EUR"),
        availability=model.Availability.IN_STOCK,
        link="https://shop.example/p/1",
        image_url="https://shop.example/img/1.jpg",
        brand="Chatshop",
        description="Linen",
    )
    catalog.push([CatalogPush("shop42-v1", "UPDATE", catalog_fields(variant))])
    assert [i["id"] for i in graph.catalog_items(catalog.catalog_id)] == ["shop42-v1"]


# --------------------------------------------------------------------------- messages as the customer gets them


def test_text_reply_inside_the_window(graph, messenger: MessengerAdapter, inbox) -> None:
    graph.messenger_text(PSID, "Hi, is the linen shirt in stock?")
    [question] = inbox.events(1)
    assert isinstance(question, model.InboundText) and question.text == "Hi, is the linen shirt in stock?"
    result = messenger.send(question.sender, model.TextMessage("Yes, in M and L."))
    assert result.recipient_id == PSID and result.message_id.startswith("m_")
    assert received(graph) == [
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "Yes, in M and L."}}
    ]


def test_list_quick_reply_tap_comes_back_as_a_reply(graph, messenger: MessengerAdapter, inbox) -> None:
    graph.messenger_text(PSID, "sizes?")
    sections = [model.ListSection("Sizes", [model.ListRow("SIZE_M", "M"), model.ListRow("SIZE_L", "L")])]
    messenger.send(customer(), model.ListMessage("Which size?", "Sizes", sections))
    assert received(graph)[0]["message"]["quick_replies"][1] == {
        "content_type": "text",
        "title": "L",
        "payload": "SIZE_L",
    }
    graph.messenger_choose(PSID, "SIZE_L")
    reply = inbox.events(2)[1]
    assert isinstance(reply, model.InboundReply)
    assert (reply.kind, reply.reply_id, reply.title) == ("quick_reply", "SIZE_L", "L")


def test_buttons_and_link_button(graph, messenger: MessengerAdapter, inbox) -> None:
    graph.messenger_text(PSID, "where is my order?")
    messenger.send(customer(), model.ButtonsMessage("Order #1001", [model.Button("TRACK:1001", "Track order")]))
    messenger.send(customer(), model.LinkButtonMessage("Pay for #1001", "Pay now", "https://shop.example/pay/1001"))
    buttons, link = received(graph)
    assert buttons["message"]["attachment"]["payload"]["template_type"] == "button"
    assert link["message"]["attachment"]["payload"]["buttons"][0]["type"] == "web_url"
    graph.messenger_choose(PSID, "TRACK:1001")
    tap = inbox.events(2)[1]
    assert (tap.kind, tap.reply_id, tap.title) == ("postback", "TRACK:1001", "Track order")


def test_product_list_carousels_and_buy_postback(graph, messenger: MessengerAdapter, inbox) -> None:
    graph.messenger_text(PSID, "show me shirts")
    cards = tuple(card(i) for i in range(12))
    sections = [model.ProductSection("Shirts", [c.retailer_id for c in cards])]
    message = MetaSend(
        model.ProductListMessage("354160437058781", "Shirts", "Our linen shirts", sections), products=cards
    )
    messenger.send(customer(), message)
    text, first, second = received(graph)
    assert text["message"] == {"text": "Shirts\n\nOur linen shirts"}
    assert len(first["message"]["attachment"]["payload"]["elements"]) == 10
    assert len(second["message"]["attachment"]["payload"]["elements"]) == 2
    graph.messenger_choose(PSID, "BUY:shop42-v11")
    buy = inbox.events(2)[1]
    assert (buy.kind, buy.reply_id, buy.title) == ("postback", "BUY:shop42-v11", "Buy")


def test_single_product_and_catalog(graph, messenger: MessengerAdapter) -> None:
    graph.messenger_text(PSID, "hello")
    messenger.send(customer(), MetaSend(model.ProductMessage("c", "shop42-v1"), products=(card(1),)))
    messenger.send(customer(), MetaSend(model.CatalogMessage("Browse the shop"), products=(card(1), card(2))))
    product, text, catalog = received(graph)
    assert product["message"]["attachment"]["payload"]["elements"][0]["title"] == "Linen shirt 1"
    assert text["message"] == {"text": "Browse the shop"}
    assert len(catalog["message"]["attachment"]["payload"]["elements"]) == 2


def test_limit_errors_are_raised_before_anything_is_sent(graph, messenger: MessengerAdapter) -> None:
    graph.messenger_text(PSID, "hello")
    with pytest.raises(MessageLimitError):
        messenger.send(customer(), model.ButtonsMessage("Pick", [model.Button(f"B{i}", f"B{i}") for i in range(4)]))
    with pytest.raises(MessageLimitError):
        messenger.send(customer(), model.TemplateMessage("order_shipped", "en_US"))
    assert received(graph) == []


# --------------------------------------------------------------------------- window and tags


def test_outside_the_window_is_undeliverable(graph, messenger: MessengerAdapter) -> None:
    graph.messenger_text(PSID, "hello")
    graph.advance_clock(25 * HOUR)
    with pytest.raises(SendError) as error:
        messenger.send(customer(), model.TextMessage("Still interested? 10% off today"))
    assert error.value.action is SendAction.UNDELIVERABLE
    assert error.value.code == "10/2018278"
    assert "outside the allowed window" in str(error.value)
    assert received(graph) == []


def test_human_agent_reply_is_resent_with_the_tag_within_7_days(graph, messenger: MessengerAdapter) -> None:
    graph.messenger_text(PSID, "my parcel is damaged")
    graph.advance_clock(3 * DAY)
    result = messenger.send(
        customer(), MetaSend(model.TextMessage("Sorry! A new one is on its way."), human_agent=True)
    )
    [sent] = received(graph)
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert result.message_id == graph.messages_to(PSID)[0]["_sandbox"]["id"]


def test_human_agent_inside_the_window_stays_a_response(graph, messenger: MessengerAdapter) -> None:
    graph.messenger_text(PSID, "hello")
    messenger.send(customer(), MetaSend(model.TextMessage("Hi, Anna here."), human_agent=True))
    assert received(graph)[0]["messaging_type"] == "RESPONSE"


def test_human_agent_after_7_days_is_undeliverable(graph, messenger: MessengerAdapter) -> None:
    graph.messenger_text(PSID, "hello")
    graph.advance_clock(8 * DAY)
    with pytest.raises(SendError) as error:
        messenger.send(customer(), MetaSend(model.TextMessage("Sorry for the wait"), human_agent=True))
    assert error.value.action is SendAction.UNDELIVERABLE
    assert received(graph) == []


def test_shipping_update_outside_the_window_goes_as_a_utility_message(graph, messenger: MessengerAdapter) -> None:
    # (was: tagged POST_PURCHASE_UPDATE, which Meta refuses since 2026-04-27; now never sent)
    graph.add_page_template("order_shipped", "Hi {{1}}, order {{2}} has shipped with {{3}}.")
    graph.messenger_text(PSID, "thanks for the order")
    graph.advance_clock(2 * DAY)
    with pytest.raises(MessageLimitError, match="since 2026-04-27"):
        messenger.send(customer(), MetaSend(model.TextMessage("On its way"), tag=MessageTag.POST_PURCHASE_UPDATE))
    template = model.TemplateMessage("order_shipped", "en_US", body_parameters=["Anna", "#8812", "UPS"])
    result = messenger.send(customer(), MetaSend(template, messaging_type=MessagingType.UTILITY))
    [sent] = received(graph)
    assert result.message_id.startswith("m_") and "tag" not in sent
    assert sent == {
        "recipient": {"id": PSID},
        "messaging_type": "UTILITY",
        "message": {
            "template": {
                "name": "order_shipped",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "BODY",
                        "parameters": [
                            {"type": "text", "text": "Anna"},
                            {"type": "text", "text": "#8812"},
                            {"type": "text", "text": "UPS"},
                        ],
                    }
                ],
            }
        },
    }


def test_a_utility_template_the_page_has_no_approval_for_is_not_sent(graph, messenger: MessengerAdapter) -> None:
    graph.set_options(page_template_status="PENDING")
    try:
        graph.add_page_template("order_shipped", "Hi {{1}}, order {{2}} has shipped with {{3}}.")
    finally:
        graph.set_options(page_template_status="APPROVED")
    graph.messenger_text(PSID, "thanks for the order")
    graph.advance_clock(2 * DAY)
    for name, why in (("order_shipped", "pending at Meta"), ("order_delivered", "not created on the Page")):
        template = model.TemplateMessage(name, "en_US", body_parameters=["Anna", "#8812", "UPS"])
        with pytest.raises(NotSendable, match=why):
            messenger.send(customer(), MetaSend(template, messaging_type=MessagingType.UTILITY))
    assert received(graph) == [] and graph.stats()["messenger"]["refused"] == {}


def test_update_messaging_type(graph, messenger: MessengerAdapter) -> None:
    from connector_messenger.outbound import MessagingType

    graph.messenger_text(PSID, "hello")
    messenger.send(
        customer(), MetaSend(model.TextMessage("Back in stock: linen shirt"), messaging_type=MessagingType.UPDATE)
    )
    assert received(graph)[0]["messaging_type"] == "UPDATE"


def test_unknown_recipient_is_undeliverable(messenger: MessengerAdapter) -> None:
    with pytest.raises(SendError) as error:
        messenger.send(model.Contact("messenger", "24879999999999999"), model.TextMessage("hi"))
    assert error.value.action is SendAction.UNDELIVERABLE


# --------------------------------------------------------------------------- Instagram


def test_instagram_round_trip(graph, instagram: InstagramAdapter, inbox) -> None:
    graph.messenger_text(IGSID, "do you ship to Austria?", object="instagram")
    [question] = inbox.events(1)
    assert question.sender == model.Contact(channel="instagram", channel_user_id=IGSID)
    sections = [model.ListSection("Answer", [model.ListRow("SHIP_AT", "Shipping to AT")])]
    instagram.send(question.sender, model.ListMessage("Yes! Details?", "More", sections))
    assert received(graph, IGSID)[0]["message"]["quick_replies"][0]["payload"] == "SHIP_AT"
    graph.messenger_choose(IGSID, "SHIP_AT", object="instagram")
    reply = inbox.events(2)[1]
    assert (reply.kind, reply.reply_id, reply.sender.channel) == ("quick_reply", "SHIP_AT", "instagram")


def test_instagram_window_closed_without_human_agent(graph, instagram: InstagramAdapter) -> None:
    graph.messenger_text(IGSID, "hello", object="instagram")
    graph.advance_clock(30 * HOUR)
    with pytest.raises(SendError) as error:
        instagram.send(customer("instagram"), model.TextMessage("hi again"))
    assert error.value.action is SendAction.UNDELIVERABLE
    instagram.send(customer("instagram"), MetaSend(model.TextMessage("Anna from support here"), human_agent=True))
    assert received(graph, IGSID)[0]["tag"] == "HUMAN_AGENT"


# --------------------------------------------------------------------------- webhooks over HTTP


def test_forged_webhook_is_refused_and_redelivery_keeps_its_id(graph, inbox) -> None:
    graph.messenger_text(PSID, "hello")
    [first] = inbox.events(1)
    original = inbox.parsed[0]
    # A forged delivery: same body, signed with another secret.
    body = b'{"object":"page","entry":[]}'
    forged = requests.post(inbox.url("messenger"), data=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert forged.status_code == 401
    # Meta redelivers the exact same bytes: the delivery id and the message id stay the same.
    delivery = graph.hub.sender.deliveries[-1]
    again = requests.post(inbox.url("messenger"), data=delivery.body, headers=delivery.headers)
    assert again.status_code == 200
    assert inbox.parsed[1].delivery_id == original.delivery_id == delivery_id(delivery.body)
    assert inbox.parsed[1].events[0].message_id == first.message_id


def test_wrong_verify_token_fails_the_subscription(graph, inbox) -> None:
    with pytest.raises(requests.HTTPError):
        graph.subscribe_webhooks(inbox.url("messenger"), object="page", verify_token="not-ours")
