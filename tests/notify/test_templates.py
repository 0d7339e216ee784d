"""Templates with typed parameters over real HTTP: back-in-stock outside the 24-hour window with the Graph
sandbox's demo ``back_in_stock`` template, whose header is an IMAGE (the sandbox, like Meta, refuses a send
without the header's image: 132000)."""

from __future__ import annotations

from typing import Any

import requests
from requests_oauthlib import OAuth1
from sqlalchemy import select

from connector import model
from connector.db.models import ShopVariant
from connector.notify.back_in_stock import subscribe
from connector.notify.policy import template_parameters
from connector.serialization import from_json, to_json
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, customer, place_order, settled
from tests.notify.test_back_in_stock import _sold_out_variant

#: The demo template (IMAGE header, body "{{1}} is back in stock. Reply to order it.").
DEMO_TEMPLATE = {"back_in_stock": {"en": "back_in_stock"}}


def _synced(stack: Stack, variant: str) -> ShopVariant:
    with stack.runtime.db.session() as session:
        row = session.scalar(
            select(ShopVariant).where(
                ShopVariant.shop_connection_id == stack.shop_id, ShopVariant.external_id == variant
            )
        )
        assert row is not None
        session.expunge(row)
        return row


def _subscriber(stack: Stack, variant: str, phone: str) -> None:
    contact_id = customer(stack, phone, purposes=("marketing",))  # never wrote: outside the window
    subscribe(
        stack.runtime, contact_id=contact_id, shop_connection_id=stack.shop_id, variant_external_id=variant, source="t"
    )


def test_back_in_stock_outside_the_window_sends_the_variant_image_as_the_template_header(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(templates=DEMO_TEMPLATE)
    variant = _sold_out_variant(stack)
    synced = _synced(stack, variant)
    image = synced.data.get("image_url")
    assert image and image.startswith("http")
    _subscriber(stack, variant, "4915100000001")

    stack.shop.set_stock(variant, 3)
    [row] = settled(stack, "back_in_stock")
    assert row.status in ("sent", "delivered", "read"), (row.error, row.reason)
    [message] = stack.graph.messages_to("4915100000001")
    template: dict[str, Any] = message["template"]
    assert template["name"] == "back_in_stock"
    assert template["components"][0] == {"type": "header", "parameters": [{"type": "image", "image": {"link": image}}]}
    assert template["components"][1] == {"type": "body", "parameters": [{"type": "text", "text": synced.title}]}


def test_back_in_stock_for_a_variant_without_image_is_skipped_with_the_reason(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates=DEMO_TEMPLATE)
    variant = _sold_out_variant(stack)
    synced = _synced(stack, variant)
    # The shop owner removes the product's image (an admin edit: the shop's webhook updates the synced variant).
    stack.shop.control("POST", "product", json={"product_id": synced.product_external_id, "image": None})
    wait_for(lambda: not _synced(stack, variant).data.get("image_url"))
    _subscriber(stack, variant, "4915100000002")

    stack.shop.set_stock(variant, 3)
    [row] = settled(stack, "back_in_stock")
    assert row.status == "skipped"
    assert row.reason == f'template back_in_stock needs an image header and "{synced.title}" has no image'
    assert stack.graph.messages_to("4915100000002") == []  # nothing sent into a refusal


def test_an_order_total_goes_as_a_currency_parameter_only_to_templates_that_expect_one(
    notify_stack: StackFactory,
) -> None:
    templates = {"order_confirmed": {"en": "order_total"}}
    stack = notify_stack(templates=templates, currency_templates=["order_total"], shipping_enabled=True)
    stack.graph.add_template("order_total", "Thanks {{1}}! Order {{2}} over {{3}} is confirmed.")
    customer(stack, "4915100000003")
    order = place_order(stack, "4915100000003", "currency-total")
    # The customer pays: the shop moves the order to processing (WooCommerce REST API; its webhook tells us).
    shop = stack.shop.connection_settings()
    paid = requests.put(
        f"{shop['shop_url']}/wp-json/wc/v3/orders/{order.external_id}",
        json={"status": "processing"},
        # the sandbox is plain HTTP, where WooCommerce only takes OAuth 1.0a-signed requests
        auth=OAuth1(shop["consumer_key"], shop["consumer_secret"], signature_method="HMAC-SHA256"),
        timeout=10,
    )
    assert paid.status_code == 200, paid.text

    [row] = settled(stack, "order_confirmed")
    assert row.status in ("sent", "delivered", "read"), (row.error, row.reason)
    [message] = stack.graph.messages_to("4915100000003")
    [body] = message["template"]["components"]
    total = order.total
    assert body["parameters"][2] == {
        "type": "currency",
        "currency": {
            "fallback_value": f"{total.amount} {total.currency}",
            "code": total.currency,
            "amount_1000": int(total.amount * 1000),
        },
    }
    # Any other template keeps the documented text parameter.
    variables = {"name": "Erika", "number": "1001", "total": "49.90", "currency": "EUR"}
    assert template_parameters("order_confirmed", variables) == (["Erika", "1001", "49.90 EUR"], [])


def test_an_old_stored_template_row_with_plain_strings_still_loads_and_typed_ones_round_trip() -> None:
    # An outbox payload as stored before parameters were typed.
    old = {
        "__type__": "TemplateMessage",
        "name": "order_shipped",
        "language": "en_US",
        "body_parameters": ["Erika", "#1001", "DHL"],
        "header_parameters": [],
        "button_parameters": ["0034043416"],
    }
    loaded = from_json(old)
    assert loaded == model.TemplateMessage("order_shipped", "en_US", ["Erika", "#1001", "DHL"], [], ["0034043416"])
    assert to_json(loaded) == old

    typed = model.TemplateMessage(
        "back_in_stock",
        "en_US",
        ["Shirt", model.CurrencyParameter("€49.90", "EUR", 49900), model.DateTimeParameter("May 21, 2026")],
        [model.ImageParameter("https://shop.example/shirt.png")],
    )
    assert from_json(to_json(typed)) == typed
