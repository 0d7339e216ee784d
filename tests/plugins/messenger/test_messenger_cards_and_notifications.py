"""What the core asks the Messenger / Instagram adapters for: product cards from offers, and notifications by the
rules of the messaging window (POST_PURCHASE_UPDATE on Messenger only; nothing promotional outside the window)."""

from __future__ import annotations

import pytest
from connector_messenger.adapter import InstagramAdapter, MessengerAdapter, MetaMessagingAdapter
from connector_messenger.outbound import MessagingType, MetaSend

from connector import model
from connector.adapters import ChannelAdapter, ProductOffer

SETTINGS = {"page_id": "1001", "instagram_account_id": "17841400000000001", "page_access_token": "token"}


def variant(n: int, *, link: str = "https://shop.example/p/{n}", image: str | None = "https://shop.example/{n}.jpg"):
    return model.Variant(
        external_id=f"v{n}",
        product_external_id=f"p{n}",
        title=f"Linen shirt {n} " + "with a very long name " * (4 if n == 3 else 0),
        price=model.Money("59.90", "EUR"),
        sale_price=model.Money("49.90", "EUR"),
        availability=model.Availability.IN_STOCK if n != 2 else model.Availability.OUT_OF_STOCK,
        link=link.format(n=n),
        image_url=image.format(n=n) if image else None,
    )


@pytest.mark.parametrize("adapter_cls", [MessengerAdapter, InstagramAdapter])
def test_a_product_list_becomes_cards_with_the_actions_the_core_chose(adapter_cls: type[MetaMessagingAdapter]) -> None:
    adapter = adapter_cls(SETTINGS)
    assert adapter.product_cards
    offers = [
        ProductOffer(variant(1), model.Button("add:v1", "Kaufen"), view_title="Ansehen"),
        ProductOffer(variant(3, link="/relative", image=None), model.Button("add:v3", "Kaufen")),
        ProductOffer(variant(2), model.Button("notify:v2", "Benachrichtigen"), sold_out=True, note="ausverkauft"),
    ]
    listing = model.ProductListMessage(
        "",
        "Hemden",
        "3 Produkte",
        [model.ProductSection("Verfügbar", ["v1", "v3"]), model.ProductSection("Aus", ["v2"])],
    )
    shown = adapter.present_products(listing, offers)
    assert isinstance(shown, MetaSend) and shown.message is listing
    text, carousel = adapter._prepare(shown)[1]
    assert text == {"text": "Hemden\n\n3 Produkte"}
    first, long_title, sold_out = carousel["attachment"]["payload"]["elements"]
    assert first == {
        "title": "Linen shirt 1",
        "subtitle": "49.90 EUR",
        "image_url": "https://shop.example/1.jpg",
        "default_action": {"type": "web_url", "url": "https://shop.example/p/1"},
        "buttons": [
            {"type": "web_url", "url": "https://shop.example/p/1", "title": "Ansehen"},
            {"type": "postback", "title": "Kaufen", "payload": "add:v1"},
        ],
    }
    # a title over 80 characters is shortened visibly; no web link and no image means no View button, no picture
    assert len(long_title["title"]) == 80 and long_title["title"].endswith("…")
    assert long_title["buttons"] == [{"type": "postback", "title": "Kaufen", "payload": "add:v3"}]
    assert "image_url" not in long_title
    assert sold_out["subtitle"] == "ausverkauft · 49.90 EUR"
    assert sold_out["buttons"][-1] == {"type": "postback", "title": "Benachrichtigen", "payload": "notify:v2"}


def test_the_defaults_show_a_product_list_unchanged_and_notify_inside_the_window_only() -> None:
    """What WhatsApp inherits: its catalog shows products by retailer id; outside the window it has templates."""
    from connector_whatsapp.adapter import WhatsAppAdapter

    whatsapp = WhatsAppAdapter({"phone_number_id": "1", "access_token": "t"})
    assert not whatsapp.product_cards
    listing = model.ProductListMessage("cat", "Shirts", "1 product", [model.ProductSection("A", ["v1"])])
    offers = [ProductOffer(variant(1), model.Button("add:v1", "Buy"))]
    assert whatsapp.present_products(listing, offers) is listing
    text = model.TextMessage("Your parcel is on its way")
    assert ChannelAdapter.notification_message(text, inside_window=True, order_update=True) is text
    assert ChannelAdapter.notification_message(text, inside_window=False, order_update=True) is None


def test_messenger_notifications_inside_the_window_are_updates_outside_only_order_updates_as_utility() -> None:
    # (was: outside the window tagged POST_PURCHASE_UPDATE; Meta refuses that tag since 2026-04-27)
    text = model.LinkButtonMessage("Shipped with DHL", "Track", "https://dhl.example/t/1")
    inside = MessengerAdapter.notification_message(text, inside_window=True, order_update=False)
    assert inside == MetaSend(message=text, messaging_type=MessagingType.UPDATE)
    # outside: never tagged; without a utility template nothing goes
    assert MessengerAdapter.notification_message(text, inside_window=False, order_update=True) is None
    template = model.TemplateMessage("order_shipped", "en_US", body_parameters=["Anna", "#1001", "DHL"])
    utility = MessengerAdapter.notification_message(text, inside_window=False, order_update=True, utility=template)
    assert utility == MetaSend(message=template, messaging_type=MessagingType.UTILITY)
    assert utility is not None and utility.tag is None
    # back in stock is promotional: no utility message may carry it
    assert (
        MessengerAdapter.notification_message(text, inside_window=False, order_update=False, utility=template) is None
    )


def test_instagram_has_no_tag_for_order_updates_so_nothing_goes_outside_the_window() -> None:
    text = model.TextMessage("Delivered")
    assert InstagramAdapter.notification_message(text, inside_window=False, order_update=True) is None
    template = model.TemplateMessage("order_shipped", "en_US", body_parameters=["Anna", "#1001", "DHL"])
    assert InstagramAdapter.notification_message(text, inside_window=False, order_update=True, utility=template) is None
    inside = InstagramAdapter.notification_message(text, inside_window=True, order_update=True)
    assert isinstance(inside, MetaSend) and inside.messaging_type is MessagingType.UPDATE
    InstagramAdapter(SETTINGS).validate_message(inside)  # and what it does send passes Instagram's rules
