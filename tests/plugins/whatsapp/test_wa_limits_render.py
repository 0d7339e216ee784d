"""Limit validation and payload rendering for every outbound type (pure, no network)."""

from __future__ import annotations

import dataclasses

import pytest
from connector_whatsapp.limits import validate_message
from connector_whatsapp.render import render_message

from connector import model
from connector.errors import MessageLimitError

B = model.Button
R = model.ListRow
S = model.ListSection
P = model.ProductSection


def at_limit() -> dict[str, model.Outbound]:
    """One message of each type with every limited field exactly at its limit: all must pass."""
    return {
        "text": model.TextMessage("x" * 4096),
        "list": model.ListMessage(
            body="b" * 1024,
            button="o" * 20,
            header="h" * 60,
            footer="f" * 60,
            sections=[S("t" * 24, [R("i" * 200, "r" * 24, "d" * 72)])]
            + [S(f"Section {n}", [R(f"id{n}", f"Row {n}")]) for n in range(9)],
        ),
        "buttons": model.ButtonsMessage(
            "b" * 1024, [B("i" * 256, "t" * 20), B("b2", "Two"), B("b3", "Three")], header="h" * 60, footer="f" * 60
        ),
        "link": model.LinkButtonMessage("b" * 1024, "d" * 20, "https://shop.example/pay/abc", "h" * 60, "f" * 60),
        "product": model.ProductMessage("cat1", "sku-1", body="b" * 1024, footer="f" * 60),
        "product_list": model.ProductListMessage(
            "cat1",
            "h" * 60,
            "b" * 1024,
            [P("t" * 24, [f"s{i}" for i in range(15)]), P("Two", [f"t{i}" for i in range(15)])],
            footer="f" * 60,
        ),
        "catalog": model.CatalogMessage("b" * 1024, "sku-1", footer="f" * 60),
        "template": model.TemplateMessage("order_shipped", "de", ["#1001", "DHL"], ["Anna"], ["track/1001"]),
    }


@pytest.mark.parametrize("kind", list(at_limit()))
def test_messages_at_every_limit_are_accepted(kind: str) -> None:
    validate_message(at_limit()[kind])


def test_one_over_each_limit_is_refused_with_the_field_and_limit(over_limit_case) -> None:
    message, field, limit = over_limit_case
    with pytest.raises(MessageLimitError) as caught:
        validate_message(message)
    assert caught.value.field == field
    assert caught.value.limit == limit


def test_nothing_is_truncated_by_rendering() -> None:
    message = at_limit()["text"]
    assert render_message("4915112345678", message)["text"]["body"] == message.body


# --------------------------------------------------------------------------- rendering


def test_every_type_renders_the_documented_payload() -> None:
    to = "4915112345678"
    envelope = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    text = render_message(to, model.TextMessage("Your order #1001 has shipped."))
    assert text == {**envelope, "type": "text", "text": {"preview_url": False, "body": "Your order #1001 has shipped."}}

    listed = render_message(
        to, model.ListMessage("Pick", "Options", [S("Sizes", [R("m", "M", "Medium")])], "Hi", "Bye")
    )
    assert listed["interactive"] == {
        "type": "list",
        "header": {"type": "text", "text": "Hi"},
        "body": {"text": "Pick"},
        "footer": {"text": "Bye"},
        "action": {
            "button": "Options",
            "sections": [{"title": "Sizes", "rows": [{"id": "m", "title": "M", "description": "Medium"}]}],
        },
    }
    buttons = render_message(to, model.ButtonsMessage("Change?", [B("addr_change", "Change")]))
    assert buttons["interactive"] == {
        "type": "button",
        "body": {"text": "Change?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "addr_change", "title": "Change"}}]},
    }
    link = render_message(to, model.LinkButtonMessage("Pay here", "Pay now", "https://shop.example/pay/abc"))
    assert link["interactive"]["action"] == {
        "name": "cta_url",
        "parameters": {"display_text": "Pay now", "url": "https://shop.example/pay/abc"},
    }
    product = render_message(to, model.ProductMessage("cat1", "SKU1", body="Look"))
    assert product["interactive"] == {
        "type": "product",
        "body": {"text": "Look"},
        "action": {"catalog_id": "cat1", "product_retailer_id": "SKU1"},
    }
    plist = render_message(to, model.ProductListMessage("cat1", "New", "Our picks", [P("Shirts", ["SKU1", "SKU2"])]))
    assert plist["interactive"] == {
        "type": "product_list",
        "header": {"type": "text", "text": "New"},
        "body": {"text": "Our picks"},
        "action": {
            "catalog_id": "cat1",
            "sections": [
                {"title": "Shirts", "product_items": [{"product_retailer_id": "SKU1"}, {"product_retailer_id": "SKU2"}]}
            ],
        },
    }
    catalog = render_message(to, model.CatalogMessage("Browse", "SKU1", footer="f"))
    assert catalog["interactive"] == {
        "type": "catalog_message",
        "body": {"text": "Browse"},
        "footer": {"text": "f"},
        "action": {"name": "catalog_message", "parameters": {"thumbnail_product_retailer_id": "SKU1"}},
    }
    template = render_message(to, model.TemplateMessage("order_shipped", "de", ["#1001"], ["Anna"], ["track/1001"]))
    assert template == {
        **envelope,
        "type": "template",
        "template": {
            "name": "order_shipped",
            "language": {"code": "de", "policy": "deterministic"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "Anna"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "#1001"}]},
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": "track/1001"}],
                },
            ],
        },
    }


def test_reply_context_is_rendered() -> None:
    payload = render_message("49151", model.TextMessage("ok"), reply_to="wamid.ABC")
    assert payload["context"] == {"message_id": "wamid.ABC"}


def test_unknown_outbound_type_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Sticker(model.Outbound):
        pass

    with pytest.raises(MessageLimitError):
        validate_message(Sticker())


# --------------------------------------------------------------------------- typed template parameters


def test_typed_template_parameters_render_per_the_reference() -> None:
    message = model.TemplateMessage(
        "order_shipped",
        "en_US",
        [
            model.TextParameter("#1001"),
            model.CurrencyParameter("$12.50", "USD", 12500),
            model.DateTimeParameter("May 21, 2026"),
            "plain",
        ],
        [model.ImageParameter("https://shop.example/parcel.png")],
        ["track/1001"],
    )
    components = render_message("49151", message)["template"]["components"]
    assert components == [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://shop.example/parcel.png"}}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "#1001"},
                {"type": "currency", "currency": {"fallback_value": "$12.50", "code": "USD", "amount_1000": 12500}},
                {"type": "date_time", "date_time": {"fallback_value": "May 21, 2026"}},
                {"type": "text", "text": "plain"},
            ],
        },
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "track/1001"}]},
    ]
    for media, kind in ((model.DocumentParameter, "document"), (model.VideoParameter, "video")):
        header = render_message("49151", model.TemplateMessage("t", "de", [], [media("https://x.example/f")]))
        assert header["template"]["components"][0]["parameters"] == [
            {"type": kind, kind: {"link": "https://x.example/f"}}
        ]


def test_typed_template_parameters_are_accepted_and_text_limits_apply_to_text_only() -> None:
    long_fallback = model.CurrencyParameter("€" + "9" * 1000, "EUR", 1)  # not a text parameter: no 1024 sum
    validate_message(
        model.TemplateMessage(
            "back_in_stock",
            "en_US",
            ["x" * 1000, long_fallback, model.DateTimeParameter("tomorrow")],
            [model.ImageParameter("https://shop.example/a.png")],
        )
    )


@pytest.mark.parametrize(
    ("body", "header", "field"),
    [
        ([], [model.ImageParameter("https://a.example/i.png"), "Anna"], "header_parameters"),
        ([], [model.ImageParameter("/relative.png")], "header_parameters[0].link"),
        ([], [model.CurrencyParameter("€1", "EUR", 1000)], "header_parameters[0]"),
        ([], [model.TextParameter("h" * 61)], "header_parameters[0]"),
        ([model.ImageParameter("https://a.example/i.png")], [], "body_parameters[0]"),
        ([model.CurrencyParameter("€1", "euro", 1000)], [], "body_parameters[0].code"),
        ([model.CurrencyParameter("", "EUR", 1000)], [], "body_parameters[0].fallback"),
        ([model.DateTimeParameter("")], [], "body_parameters[0].fallback"),
        ([model.TextParameter("two\nlines")], [], "body_parameters[0]"),
    ],
)
def test_broken_typed_template_parameters_are_refused_naming_the_field(
    body: list[model.TemplateValue], header: list[model.TemplateValue], field: str
) -> None:
    with pytest.raises(MessageLimitError) as caught:
        validate_message(model.TemplateMessage("back_in_stock", "en_US", body, header))
    assert caught.value.field == field
