"""The Graph sandbox's WhatsApp Flows API, flow and product-carousel messages, and offer templates (platform-changes
-2026.md §6-7): what Meta refuses is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.plugins.meta_sandbox.conftest import CUSTOMER


@pytest.fixture
def open_window(sandbox, graph):
    sandbox.customer_text(graph.settings["phone_number_id"], CUSTOMER, "hi")


def address_flow(**screen: Any) -> dict[str, Any]:
    children = [
        {"type": "TextInput", "name": "street", "label": "Street", "required": True},
        {
            "type": "Footer",
            "label": "Save",
            "on-click-action": {"name": "complete", "payload": {"street": "${form.street}"}},
        },
    ]
    return {
        "version": "7.3",
        "screens": [
            {
                "id": "ADDRESS",
                "title": "Address",
                "terminal": True,
                "layout": {"type": "SingleColumnLayout", "children": children},
                **screen,
            }
        ],
    }


def upload(graph, flow_id: str, flow_json: Any) -> Any:
    files = {"file": ("flow.json", json.dumps(flow_json).encode(), "application/json")}
    return graph.post(f"{flow_id}/assets", data={"name": "flow.json", "asset_type": "FLOW_JSON"}, files=files)


def create(graph, name: str = "address_form") -> str:
    answer = graph.post(f"{graph.settings['waba_id']}/flows", json={"name": name, "categories": ["OTHER"]})
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def flow_message(flow: str, **parameters: Any) -> dict[str, Any]:
    params = {
        "flow_message_version": "3",
        "flow_id": flow,
        "flow_token": "addr-1",
        "flow_cta": "Enter address",
        "flow_action": "navigate",
        "flow_action_payload": {"screen": "ADDRESS"},
        **parameters,
    }
    return {
        "type": "interactive",
        "interactive": {
            "type": "flow",
            "body": {"text": "Where to?"},
            "action": {"name": "flow", "parameters": params},
        },
    }


def test_a_flow_is_created_uploaded_published_and_then_frozen(graph, sandbox, open_window):
    flow_id = create(graph)
    again = graph.post(f"{graph.settings['waba_id']}/flows", json={"name": "address_form", "categories": ["OTHER"]})
    assert again.status_code == 400 and "not unique" in graph.error(again)["error_data"]["details"]
    # a draft cannot be sent as published
    refused = graph.send_whatsapp(flow_message(flow_id))
    assert refused.status_code == 400 and "DRAFT" in graph.error(refused)["error_data"]["details"]
    answer = upload(graph, flow_id, address_flow())
    assert answer.json() == {"success": True, "validation_errors": []}
    assert graph.post(f"{flow_id}/publish").json() == {"success": True}
    assert graph.get(flow_id).json()["status"] == "PUBLISHED"
    listed = graph.get(f"{graph.settings['waba_id']}/flows").json()["data"]
    assert [(f["id"], f["status"]) for f in listed] == [(flow_id, "PUBLISHED")]
    assert graph.send_whatsapp(flow_message(flow_id)).status_code == 200
    # published flows cannot change
    frozen = upload(graph, flow_id, address_flow())
    assert frozen.status_code == 400 and "draft" in graph.error(frozen)["error_data"]["details"]


def test_invalid_flow_json_reports_validation_errors_and_cannot_be_published(graph):
    flow_id = create(graph)
    bad = address_flow(terminal=False)
    bad["version"] = "4.0"  # below what publishing accepts
    bad["screens"][0]["layout"]["children"][0]["label"] = "A street label far too long"
    errors = upload(graph, flow_id, bad).json()["validation_errors"]
    messages = " | ".join(e["message"] for e in errors)
    assert "version" in messages and "terminal" in messages and "longer than 20" in messages
    assert all(e["error_type"] == "FLOW_JSON_ERROR" and e["pointers"] for e in errors)
    refused = graph.post(f"{flow_id}/publish")
    assert refused.status_code == 400 and graph.get(flow_id).json()["status"] == "DRAFT"


def test_flow_message_parameters_are_checked(graph, sandbox, open_window):
    flow_id = create(graph)
    upload(graph, flow_id, address_flow())
    graph.post(f"{flow_id}/publish")
    for wrong, details in [
        ({"flow_message_version": "2"}, "flow_message_version"),
        ({"flow_cta": "x" * 31}, "flow_cta"),
        ({"flow_action_payload": {"screen": "NOPE"}}, "screen"),
        ({"flow_id": "999"}, "does not exist"),
        ({"flow_name": "address_form"}, "Exactly one"),
    ]:
        refused = graph.send_whatsapp(flow_message(flow_id, **wrong))
        assert refused.status_code == 400, wrong
        assert details in graph.error(refused)["error_data"]["details"], wrong


def product_carousel(retailer_ids: list[str], catalog_id: str, **extra: Any) -> dict[str, Any]:
    cards = [
        {"card_index": i, "type": "product", "action": {"product_retailer_id": rid, "catalog_id": catalog_id}}
        for i, rid in enumerate(retailer_ids)
    ]
    interactive = {"type": "carousel", "body": {"text": "Our shirts"}, "action": {"cards": cards}, **extra}
    return {"type": "interactive", "interactive": interactive}


def test_product_carousel_limits(graph, sandbox, open_window, make_product):
    catalog = graph.settings["catalog_id"]
    ids = [f"SKU-{i}" for i in range(11)]
    graph.items_batch([{"method": "CREATE", "data": make_product(rid)} for rid in ids])
    assert graph.send_whatsapp(product_carousel(ids[:2], catalog)).status_code == 200
    assert graph.send_whatsapp(product_carousel(ids[:10], catalog)).status_code == 200
    for message in [
        product_carousel(ids[:1], catalog),  # fewer than 2 cards
        product_carousel(ids, catalog),  # more than 10
        product_carousel(ids[:3], catalog, header={"type": "text", "text": "No"}),
        product_carousel(ids[:3], catalog, footer={"text": "No"}),
        product_carousel(["SKU-unknown", *ids[:2]], catalog),
    ]:
        assert graph.send_whatsapp(message).status_code == 400, message


def test_limited_time_offer_and_coupon_templates(graph, sandbox):
    components = [
        {"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text": "Winter sale", "has_expiration": True}},
        {"type": "BODY", "text": "{{1}} is back, 20% off until the timer runs out."},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "COPY_CODE", "example": "WINTER25"},
                {"type": "URL", "text": "Shop", "url": "https://shop.example.com/{{1}}"},
            ],
        },
    ]
    with_footer = [*components, {"type": "FOOTER", "text": "No footers on offers"}]
    refused = graph.post(
        f"{graph.settings['waba_id']}/message_templates",
        json={"name": "lto", "language": "en_US", "category": "MARKETING", "components": with_footer},
    )
    assert refused.status_code == 400
    created = graph.post(
        f"{graph.settings['waba_id']}/message_templates",
        json={"name": "lto", "language": "en_US", "category": "MARKETING", "components": components},
    )
    assert created.status_code == 200, created.text
    offer = {
        "type": "limited_time_offer",
        "parameters": [{"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": 1767225600000}}],
    }
    coupon = {
        "type": "button",
        "sub_type": "copy_code",
        "index": 0,
        "parameters": [{"type": "coupon_code", "coupon_code": "WINTER25"}],
    }
    url = {"type": "button", "sub_type": "url", "index": 1, "parameters": [{"type": "text", "text": "p/1"}]}
    body = {"type": "body", "parameters": [{"type": "text", "text": "The linen shirt"}]}

    def send(*parts: dict[str, Any]) -> Any:
        return graph.send_whatsapp(
            {"type": "template", "template": {"name": "lto", "language": {"code": "en_US"}, "components": list(parts)}}
        )

    assert send(offer, body, coupon, url).status_code == 200
    assert send(body, coupon, url).status_code == 400  # the expiring offer needs its time
    long_code = {**coupon, "parameters": [{"type": "coupon_code", "coupon_code": "X" * 16}]}
    assert send(offer, body, long_code, url).status_code == 400


def _card(header: str, buttons: list[dict[str, Any]], body: str | None = None) -> dict[str, Any]:
    components: list[dict[str, Any]] = [{"type": "HEADER", "format": header}]
    if body is not None:
        components.append({"type": "BODY", "text": body})
    return {"components": [*components, {"type": "BUTTONS", "buttons": buttons}]}


def test_carousel_template_cards_are_checked_as_meta_defines_them(graph, sandbox, open_window, make_product):
    view = [{"type": "SPM", "text": "View"}]
    shop = [{"type": "URL", "text": "Shop", "url": "https://shop.example.com/{{1}}"}]

    def create(name: str, cards: list[dict[str, Any]], category: str = "MARKETING") -> Any:
        components = [{"type": "BODY", "text": "New in: {{1}}"}, {"type": "CAROUSEL", "cards": cards}]
        return graph.post(
            f"{graph.settings['waba_id']}/message_templates",
            json={"name": name, "language": "en_US", "category": category, "components": components},
        )

    assert create("products", [_card("PRODUCT", view)] * 2).status_code == 200
    assert create("media", [_card("IMAGE", shop, "A linen shirt")] * 2).status_code == 200
    for name, cards, category in [
        ("eleven", [_card("PRODUCT", view)] * 11, "MARKETING"),  # at most 10 cards
        ("utility", [_card("PRODUCT", view)], "UTILITY"),  # carousels are marketing
        ("mixed", [_card("PRODUCT", view), _card("PRODUCT", shop)], "MARKETING"),  # all cards alike
        ("two_views", [_card("PRODUCT", view * 2)], "MARKETING"),  # one button on a product card
        ("no_button", [_card("PRODUCT", [])], "MARKETING"),
        ("long_body", [_card("IMAGE", shop, "x" * 161)], "MARKETING"),  # a card body is at most 160 characters
        ("three", [_card("IMAGE", shop * 3)], "MARKETING"),  # at most two buttons on a media card
        ("text_header", [_card("TEXT", view)], "MARKETING"),
    ]:
        assert create(name, cards, category).status_code == 400, name

    graph.items_batch([{"method": "CREATE", "data": make_product(rid)} for rid in ("SKU-1", "SKU-2")])

    def send(cards: list[dict[str, Any]]) -> Any:
        body = {"type": "body", "parameters": [{"type": "text", "text": "shirts"}]}
        components = [body, {"type": "carousel", "cards": cards}]
        template = {"name": "products", "language": {"code": "en_US"}, "components": components}
        return graph.send_whatsapp({"type": "template", "template": template})

    def product(index: int, rid: str) -> dict[str, Any]:
        parameter = {"type": "product", "product": {"product_retailer_id": rid}}
        return {"card_index": index, "components": [{"type": "header", "parameters": [parameter]}]}

    assert send([product(0, "SKU-1"), product(1, "SKU-2")]).status_code == 200
    assert send([product(0, "SKU-1"), product(1, "SKU-unknown")]).status_code == 400  # not in the catalog
    assert send([product(0, "SKU-1"), {"card_index": 1, "components": []}]).status_code == 400  # a card shows nothing
    assert send([product(1, "SKU-1")]).status_code == 400  # numbered from 0
