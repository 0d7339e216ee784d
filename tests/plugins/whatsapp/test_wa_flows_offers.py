"""Flow messages, product carousels and offer templates through the WhatsApp adapter: limits enforced before a send,
payloads as Meta documents them (platform-changes-2026.md §6-7), and the Graph sandbox accepting them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from connector_whatsapp.adapter import WhatsAppAdapter
from connector_whatsapp.render import render_message

from connector import model
from connector.errors import MessageLimitError, PlatformError
from connector.notify.policy import _as_offer
from connector.notify.settings import NotifySettings
from tests.plugins.whatsapp.test_wa_send_sandbox import CONTACT, CUSTOMER, stocked  # noqa: F401 (fixture)

FORM = {
    "version": "7.3",
    "screens": [
        {
            "id": "ADDRESS",
            "title": "Address",
            "terminal": True,
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "TextInput", "name": "city", "label": "City", "required": True},
                    {"type": "Footer", "label": "Save", "on-click-action": {"name": "complete", "payload": {}}},
                ],
            },
        }
    ],
}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (model.ProductCarouselMessage("c", "Shirts", ["a"]), "cards"),
        (model.ProductCarouselMessage("c", "Shirts", [f"p{i}" for i in range(11)]), "cards"),
        (model.ProductCarouselMessage("c", "x" * 1025, ["a", "b"]), "body"),
        (model.ProductCarouselMessage("c", "Shirts", ["a", "a"]), "cards[1].retailer_id"),
        (model.FlowMessage("1", "t", "Enter the new address", "Where?", "ADDRESS"), "cta"),
        (model.FlowMessage("1", "", "Enter", "Where?", "ADDRESS"), "flow_token"),
        (model.OfferTemplateMessage("offer", "en_US", coupon_code="WINTER-SALE-2026"), "coupon_code"),
        (model.OfferTemplateMessage("offer", "en_US", coupon_code="WIN 25"), "coupon_code"),
        (model.OfferTemplateMessage("offer", "en_US", cards=[model.TemplateCard(f"p{i}") for i in range(11)]), "cards"),
    ],
)
def test_limits_are_enforced_before_sending(adapter: WhatsAppAdapter, message: model.Outbound, field: str) -> None:
    with pytest.raises(MessageLimitError) as caught:
        adapter.validate_message(message)
    assert caught.value.field == field


def test_offer_template_payload_puts_the_copy_code_button_first() -> None:
    message = model.OfferTemplateMessage(
        "winter_offer",
        "en_US",
        ["Linen shirt"],
        button_parameters=["p/1"],
        coupon_code="WINTER25",
        offer_expires_at=1767225600000,
        cards=[model.TemplateCard("sku-1", "99")],
    )
    components = render_message(CUSTOMER, message)["template"]["components"]
    assert components[1] == {
        "type": "limited_time_offer",
        "parameters": [{"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": 1767225600000}}],
    }
    assert components[2] == {
        "type": "button",
        "sub_type": "copy_code",
        "index": "0",
        "parameters": [{"type": "coupon_code", "coupon_code": "WINTER25"}],
    }
    assert components[3]["sub_type"] == "url" and components[3]["index"] == "1"
    card = components[4]["cards"][0]
    assert card["card_index"] == 0
    assert card["components"][0]["parameters"][0]["product"] == {"product_retailer_id": "sku-1", "catalog_id": "99"}


def test_back_in_stock_offer_expires_the_configured_hours_after_the_send() -> None:
    settings = NotifySettings(back_in_stock_coupon_code="BACK10", back_in_stock_offer_hours=48)
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    offer = _as_offer(settings, model.TemplateMessage("back_in_stock", "en_US", ["Shirt"]), now)
    assert isinstance(offer, model.OfferTemplateMessage) and offer.coupon_code == "BACK10"
    assert offer.offer_expires_at == int(datetime(2026, 12, 9, 9, 0, tzinfo=UTC).timestamp() * 1000)


def test_a_carousel_and_an_offer_reach_the_customer(sandbox, adapter: WhatsAppAdapter, stocked: list[str]) -> None:  # noqa: F811
    sandbox.customer_text(None, CUSTOMER, "hi")
    adapter.send(CONTACT, model.ProductCarouselMessage("", "Our shirts", stocked[:4]))  # the connection's catalog
    sandbox.add_template(
        "back_in_stock_offer",
        "{{1}} is back: 10% off with the code until the timer ends.",
        category="MARKETING",
        buttons=[{"type": "COPY_CODE", "example": "BACK10"}],
    )
    offer = _as_offer(
        NotifySettings(back_in_stock_coupon_code="BACK10"),
        model.TemplateMessage("back_in_stock_offer", "en_US", ["Linen shirt"]),
        datetime.now(UTC),
    )
    adapter.send(CONTACT, offer)
    seen = sandbox.messages_to(CUSTOMER)
    assert seen[0]["interactive"]["type"] == "carousel"
    assert [c["action"]["product_retailer_id"] for c in seen[0]["interactive"]["action"]["cards"]] == stocked[:4]
    assert seen[1]["template"]["components"][-1]["parameters"][0]["coupon_code"] == "BACK10"


def test_a_form_is_published_once_and_sent_as_a_flow_message(sandbox, adapter: WhatsAppAdapter) -> None:
    sandbox.customer_text(None, CUSTOMER, "hi")
    flow_id = adapter.publish_flow("address", FORM, ["OTHER"])
    assert adapter.publish_flow("address", FORM, ["OTHER"]) == flow_id, "the same version is not published twice"
    other = adapter.publish_flow("address", {**FORM, "version": "7.2"}, ["OTHER"])
    assert other != flow_id, "a changed form is a new flow (a published one cannot change)"
    adapter.send(CONTACT, model.FlowMessage(flow_id, "addr:1", "Enter address", "Where should we ship?", "ADDRESS"))
    sent = sandbox.messages_to(CUSTOMER)[0]["interactive"]
    assert sent["type"] == "flow"
    assert sent["action"]["parameters"]["flow_action_payload"] == {"screen": "ADDRESS"}


def test_a_form_meta_refuses_is_reported_with_its_validation_errors(adapter: WhatsAppAdapter) -> None:
    broken = {"version": "7.3", "screens": [{"id": "address", "layout": {"type": "SingleColumnLayout"}}]}
    with pytest.raises(PlatformError, match="refused the flow"):
        adapter.publish_flow("broken", broken, ["OTHER"])


def test_flows_need_the_business_account_and_can_be_switched_off(adapter: WhatsAppAdapter) -> None:
    assert adapter.flows_enabled()
    assert not WhatsAppAdapter({**adapter.settings, "flows": False}).flows_enabled()
    assert not WhatsAppAdapter({**adapter.settings, "waba_id": ""}).flows_enabled()
