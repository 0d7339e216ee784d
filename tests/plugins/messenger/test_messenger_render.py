"""Rendering canonical messages to Send API payloads, and refusing every documented limit before sending."""

from __future__ import annotations

import pytest
from connector_messenger.adapter import InstagramAdapter, MessengerAdapter
from connector_messenger.outbound import MessageTag, MessagingType, MetaSend, ProductCard

from connector import model
from connector.errors import MessageLimitError

SETTINGS = {
    "page_id": "1001",
    "instagram_account_id": "17841400000000001",
    "page_access_token": "token",
    "app_secret": "secret",
    "verify_token": "verify",
}


@pytest.fixture
def messenger() -> MessengerAdapter:
    return MessengerAdapter({k: v for k, v in SETTINGS.items() if k != "instagram_account_id"})


@pytest.fixture
def instagram() -> InstagramAdapter:
    return InstagramAdapter(SETTINGS)


def card(n: int, **kwargs) -> ProductCard:
    return ProductCard(
        retailer_id=f"shop42-v{n}",
        title=f"Linen shirt {n}",
        price=model.Money("49.90", "EUR"),
        image_url=f"https://shop.example/img/{n}.jpg",
        url=f"https://shop.example/p/{n}",
        **kwargs,
    )


def rows(count: int, title: str = "Row") -> list[model.ListSection]:
    return [model.ListSection("Sizes", [model.ListRow(f"ROW_{i}", f"{title} {i}"[:20]) for i in range(count)])]


# --------------------------------------------------------------------------- shapes


def test_text_renders_as_text(messenger: MessengerAdapter) -> None:
    assert messenger._prepare(model.TextMessage("Hello"))[1] == [{"text": "Hello"}]


def test_list_renders_as_text_with_quick_replies(messenger: MessengerAdapter) -> None:
    message = model.ListMessage(
        body="Which size?",
        button="Sizes",
        sections=[
            model.ListSection("Small", [model.ListRow("SIZE_S", "S", "fits 36-38")]),
            model.ListSection("Large", [model.ListRow("SIZE_L", "L")]),
        ],
        header="Linen shirt",
    )
    [payload] = messenger._prepare(message)[1]
    assert payload["quick_replies"] == [
        {"content_type": "text", "title": "S", "payload": "SIZE_S"},
        {"content_type": "text", "title": "L", "payload": "SIZE_L"},
    ]
    # Quick replies have no description: it is kept in the text instead of being dropped.
    assert payload["text"] == "Linen shirt\n\nWhich size?\n\n• S: fits 36-38"


def test_buttons_render_as_button_template(messenger: MessengerAdapter) -> None:
    message = model.ButtonsMessage(
        "What next?", [model.Button("TRACK:1001", "Track order"), model.Button("HELP", "Help")]
    )
    [payload] = messenger._prepare(message)[1]
    assert payload == {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": "What next?",
                "buttons": [
                    {"type": "postback", "title": "Track order", "payload": "TRACK:1001"},
                    {"type": "postback", "title": "Help", "payload": "HELP"},
                ],
            },
        }
    }


def test_link_button_renders_web_url_button(messenger: MessengerAdapter) -> None:
    message = model.LinkButtonMessage("Pay for order #1001", "Pay now", "https://shop.example/pay/1001")
    [payload] = messenger._prepare(message)[1]
    assert payload["attachment"]["payload"]["buttons"] == [
        {"type": "web_url", "url": "https://shop.example/pay/1001", "title": "Pay now"}
    ]


def test_product_renders_generic_element_with_view_and_buy(messenger: MessengerAdapter) -> None:
    message = MetaSend(model.ProductMessage("cat1", "shop42-v1", body="Back in stock!"), products=(card(1),))
    text, carousel = messenger._prepare(message)[1]
    assert text == {"text": "Back in stock!"}
    [element] = carousel["attachment"]["payload"]["elements"]
    assert carousel["attachment"]["payload"]["template_type"] == "generic"
    assert element == {
        "title": "Linen shirt 1",
        "subtitle": "49.90 EUR",
        "image_url": "https://shop.example/img/1.jpg",
        "default_action": {"type": "web_url", "url": "https://shop.example/p/1"},
        "buttons": [
            {"type": "web_url", "url": "https://shop.example/p/1", "title": "View"},
            {"type": "postback", "title": "Buy", "payload": "BUY:shop42-v1"},
        ],
    }


def test_product_list_of_25_becomes_three_carousels_in_order(messenger: MessengerAdapter) -> None:
    cards = tuple(card(i) for i in range(25))
    sections = [
        model.ProductSection("Shirts", [c.retailer_id for c in cards[:12]]),
        model.ProductSection("Pants", [c.retailer_id for c in cards[12:]]),
    ]
    message = MetaSend(model.ProductListMessage("cat1", "New in", "Our picks", sections), products=cards)
    payloads = messenger._prepare(message)[1]
    assert payloads[0] == {"text": "New in\n\nOur picks"}
    sizes = [len(p["attachment"]["payload"]["elements"]) for p in payloads[1:]]
    assert sizes == [10, 10, 5]
    titles = [e["title"] for p in payloads[1:] for e in p["attachment"]["payload"]["elements"]]
    assert titles == [c.title for c in cards]


def test_catalog_message_leads_with_thumbnail_product(messenger: MessengerAdapter) -> None:
    message = MetaSend(
        model.CatalogMessage("Browse our shop", thumbnail_retailer_id="shop42-v2"), products=(card(1), card(2))
    )
    _, carousel = messenger._prepare(message)[1]
    assert [e["title"] for e in carousel["attachment"]["payload"]["elements"]] == ["Linen shirt 2", "Linen shirt 1"]


def test_product_card_from_variant_uses_sale_price() -> None:
    variant = model.Variant(
        external_id="v9001",
        product_external_id="p77",
        title="Linen shirt M",
        price=model.Money("59.90", "EUR"),
        sale_price=model.Money("49.90", "EUR"),
        availability=model.Availability.IN_STOCK,
        link="https://shop.example/p/77",
        image_url="https://shop.example/77.jpg",
    )
    assert ProductCard.from_variant(variant, "shop42-v9001").subtitle_text == "49.90 EUR"


def test_template_message_is_refused_with_a_clear_error(
    messenger: MessengerAdapter, instagram: InstagramAdapter
) -> None:
    for adapter in (messenger, instagram):
        with pytest.raises(MessageLimitError, match="TemplateMessage is not supported"):
            adapter.validate_message(model.TemplateMessage("order_shipped", "en"))
    assert model.TemplateMessage not in messenger.supports


def test_product_without_card_data_is_refused(messenger: MessengerAdapter) -> None:
    with pytest.raises(MessageLimitError) as error:
        messenger.validate_message(model.ProductMessage("cat1", "shop42-v1"))
    assert error.value.field == "retailer_id"


def test_only_the_human_agent_tag_is_left(messenger: MessengerAdapter, instagram: InstagramAdapter) -> None:
    # (was: Messenger accepted POST_PURCHASE_UPDATE; Meta refuses it since 2026-04-27, so it is never sent)
    for tag in (MessageTag.POST_PURCHASE_UPDATE, MessageTag.ACCOUNT_UPDATE, MessageTag.CONFIRMED_EVENT_UPDATE):
        shipped = MetaSend(model.TextMessage("Your parcel is on its way"), tag=tag)
        for adapter in (messenger, instagram):
            with pytest.raises(MessageLimitError, match="since 2026-04-27"):
                adapter.validate_message(shipped)
    for adapter in (messenger, instagram):
        adapter.validate_message(MetaSend(model.TextMessage("Sorry for the wait"), tag=MessageTag.HUMAN_AGENT))


def test_a_utility_message_is_a_page_template_on_messenger_only(
    messenger: MessengerAdapter, instagram: InstagramAdapter
) -> None:
    template = model.TemplateMessage("order_shipped", "en_US", body_parameters=["#8812"])
    utility = MetaSend(template, messaging_type=MessagingType.UTILITY)
    messenger.validate_message(utility)
    with pytest.raises(MessageLimitError, match="utility"):
        instagram.validate_message(utility)
    with pytest.raises(MessageLimitError, match="must be a TemplateMessage"):
        messenger.validate_message(MetaSend(model.TextMessage("Shipped"), messaging_type=MessagingType.UTILITY))
    with pytest.raises(MessageLimitError, match="TemplateMessage"):
        messenger.validate_message(MetaSend(template))  # a template only as a utility message


def test_tag_must_not_be_paired_with_human_agent_other_tags(messenger: MessengerAdapter) -> None:
    message = MetaSend(model.TextMessage("hi"), tag=MessageTag.ACCOUNT_UPDATE, human_agent=True)
    with pytest.raises(MessageLimitError, match="HUMAN_AGENT"):
        messenger.validate_message(message)


# --------------------------------------------------------------------------- limits: one over each is refused


def _over(field: str, limit: int | None, message: model.Outbound, adapter: MessengerAdapter | InstagramAdapter) -> None:
    with pytest.raises(MessageLimitError) as error:
        adapter.validate_message(message)
    assert error.value.field == field
    assert error.value.limit == limit


def test_text_limits(messenger: MessengerAdapter, instagram: InstagramAdapter) -> None:
    messenger.validate_message(model.TextMessage("x" * 2000))
    _over("body", 2000, model.TextMessage("x" * 2001), messenger)
    _over("body", None, model.TextMessage("  "), messenger)
    # Instagram counts UTF-8 bytes: 333 three-byte characters pass, 334 do not.
    instagram.validate_message(model.TextMessage("€" * 333))
    _over("body", 999, model.TextMessage("€" * 334), instagram)


def test_quick_reply_limits(messenger: MessengerAdapter) -> None:
    messenger.validate_message(model.ListMessage("Pick", "Pick", rows(13)))
    _over("sections", 13, model.ListMessage("Pick", "Pick", rows(14)), messenger)
    long_title = [model.ListSection("s", [model.ListRow("A", "x" * 21)])]
    _over("sections[0].rows[0].title", 20, model.ListMessage("Pick", "Pick", long_title), messenger)
    long_payload = [model.ListSection("s", [model.ListRow("p" * 1001, "ok")])]
    _over("sections[0].rows[0].id", 1000, model.ListMessage("Pick", "Pick", long_payload), messenger)


def test_button_template_limits(messenger: MessengerAdapter) -> None:
    three = [model.Button(f"B{i}", f"Button {i}") for i in range(3)]
    messenger.validate_message(model.ButtonsMessage("x" * 640, three))
    _over("body", 640, model.ButtonsMessage("x" * 641, three), messenger)
    _over("buttons", 3, model.ButtonsMessage("Pick", [*three, model.Button("B3", "Four")]), messenger)
    _over("buttons", 3, model.ButtonsMessage("Pick", []), messenger)
    _over("buttons[0].title", 20, model.ButtonsMessage("Pick", [model.Button("B", "x" * 21)]), messenger)
    _over("display_text", 20, model.LinkButtonMessage("Pay", "x" * 21, "https://shop.example"), messenger)


def test_generic_template_limits(messenger: MessengerAdapter) -> None:
    ten = tuple(card(i) for i in range(10))
    messenger.validate_message(MetaSend(model.CatalogMessage("Shop"), products=ten))
    _over("products", 10, MetaSend(model.CatalogMessage("Shop"), products=(*ten, card(10))), messenger)
    thirty = tuple(card(i) for i in range(31))
    sections = [model.ProductSection("All", [c.retailer_id for c in thirty])]
    _over("products", 30, MetaSend(model.ProductListMessage("c", "h", "b", sections), products=thirty), messenger)
    long_title = ProductCard("r1", "x" * 81)
    _over("products[0].title", 80, MetaSend(model.CatalogMessage("Shop"), products=(long_title,)), messenger)
    long_subtitle = ProductCard("r1", "Shirt", subtitle="x" * 81)
    _over("products[0].subtitle", 80, MetaSend(model.CatalogMessage("Shop"), products=(long_subtitle,)), messenger)
    long_button = card(1, buy_title="Add this to my basket")
    _over("products[0].buy_title", 20, MetaSend(model.CatalogMessage("Shop"), products=(long_button,)), messenger)
    sizes = model.Button("SIZES:shop42-v1", "Sizes")
    messenger.validate_message(MetaSend(model.CatalogMessage("Shop"), products=(card(1, extra_buttons=(sizes,)),)))
    four = card(1, extra_buttons=(sizes, model.Button("MORE", "More")))
    _over("products[0].buttons", 3, MetaSend(model.CatalogMessage("Shop"), products=(four,)), messenger)
    relative = ProductCard("r1", "Shirt", url="/products/shirt")
    _over("products[0].url", None, MetaSend(model.CatalogMessage("Shop"), products=(relative,)), messenger)
    _over("url", None, model.LinkButtonMessage("Pay", "Pay now", "shop.example/pay"), messenger)
