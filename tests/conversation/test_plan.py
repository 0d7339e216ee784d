"""A turn's replies are planned into as few messages as the channel's limits allow (each one is billed)."""

from __future__ import annotations

from connector_messenger.adapter import MessengerAdapter
from connector_whatsapp.adapter import WhatsAppAdapter

from connector import model
from connector.conversation.replies import plan

WHATSAPP = WhatsAppAdapter({"phone_number_id": "1", "access_token": "t", "catalog_id": "9"})
MESSENGER = MessengerAdapter({"page_id": "1", "page_access_token": "t"})


def test_a_text_joins_the_message_after_it() -> None:
    pay = model.LinkButtonMessage("Order 1001: 45.57 EUR", "Pay now", "https://shop.example/pay/1")
    planned = plan(WHATSAPP, [model.TextMessage("Address saved."), pay])
    assert planned == [model.LinkButtonMessage("Address saved.\n\nOrder 1001: 45.57 EUR", "Pay now", pay.url)]
    texts = plan(WHATSAPP, [model.TextMessage("One."), model.TextMessage("Two.")])
    assert texts == [model.TextMessage("One.\n\nTwo.")]


def test_nothing_is_joined_beyond_the_channels_limits() -> None:
    long_text = model.TextMessage("x " * 450)
    buttons = model.ButtonsMessage("Shall I?" + " y" * 100, [model.Button("yes", "Yes")])
    assert plan(WHATSAPP, [long_text, buttons]) == [long_text, buttons]  # the body would pass 1,024 characters
    product = model.ProductMessage("9", "sku-1", body="Our pick")
    assert plan(WHATSAPP, [product, model.TextMessage("Anything else?")]) == [
        product,
        model.TextMessage("Anything else?"),
    ]


def test_messenger_plans_within_its_own_limits() -> None:
    menu = model.ListMessage(
        "What can I do?", "Menu", [model.ListSection("-", [model.ListRow("menu:browse", "Browse")])]
    )
    planned = plan(MESSENGER, [model.TextMessage("Welcome back!"), menu])
    assert len(planned) == 1 and planned[0].body.startswith("Welcome back!")  # type: ignore[attr-defined]
