"""Shopify webhooks (HMAC, topics, registration) and chat orders (tags, payment link, address rules)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace

import pytest
import requests
from connector_shopify.adapter import ShopifyAdapter
from connector_shopify.sandbox import ShopifySandbox

from connector.errors import PlatformError, WebhookRejected
from connector.model import Address, Cart, CartLine, Customer, OrderStatus, ShipmentStatus, ShopEventKind
from connector.sandbox.recorder import WebhookRecorder
from tests.plugins.shopify.conftest import gql

CUSTOMER = Customer(phone="+4915112345678", email="erika@example.com", first_name="Erika", last_name="M")
ADDRESS = Address(name="Erika Mustermann", line1="Hauptstrasse 1", postcode="10115", city="Berlin", country_code="DE")


def _events(adapter: ShopifyAdapter, recorder: WebhookRecorder, count: int) -> dict[str, list]:
    by_topic: dict[str, list] = {}
    for request in recorder.wait_for(count):
        adapter.verify_webhook(request)
        parsed = adapter.parse_webhook(request)
        by_topic.setdefault(parsed.topic, []).extend(parsed.events)
    return by_topic


def _order(adapter: ShopifyAdapter, reference: str) -> object:
    variant = next(v for v in adapter.get_variants([adapter_variant_id(adapter)]))
    return adapter.create_order(Cart([CartLine(variant.external_id, 1)], reference), CUSTOMER, ADDRESS)


def adapter_variant_id(adapter: ShopifyAdapter) -> str:
    return next(v.external_id for v in adapter.iter_variants() if v.stock_quantity and v.published)


def test_signature_is_base64_hmac_sha256_of_the_raw_body(
    adapter: ShopifyAdapter, sandbox: ShopifySandbox, recorder: WebhookRecorder
) -> None:
    sandbox.set_stock(sandbox.variant_ids()[0], 2)
    request = recorder.wait_for(1)[0]
    expected = base64.b64encode(
        hmac.new(sandbox.options["client_secret"].encode(), request.body, hashlib.sha256).digest()
    ).decode()
    assert request.headers["X-Shopify-Hmac-Sha256"] == expected
    for header in ("X-Shopify-Topic", "X-Shopify-Webhook-Id", "X-Shopify-Event-Id", "X-Shopify-Shop-Domain"):
        assert request.headers.get(header)
    adapter.verify_webhook(request)
    other = ShopifyAdapter({**adapter.settings, "client_secret": "rotated", "previous_client_secret": "nope"})
    with pytest.raises(WebhookRejected) as excinfo:
        other.verify_webhook(request)
    assert excinfo.value.status == 401
    rotating = ShopifyAdapter(
        {**adapter.settings, "client_secret": "new", "previous_client_secret": adapter.settings["client_secret"]}
    )
    rotating.verify_webhook(request)  # the old secret is still accepted during a rotation


def test_stock_change_sends_inventory_and_product_webhooks(
    adapter: ShopifyAdapter, sandbox: ShopifySandbox, recorder: WebhookRecorder
) -> None:
    variants = {v.external_id: v for v in adapter.iter_variants()}  # learns inventory item -> variant
    variant_id = next(i for i in variants if "ProductVariant" in i)
    sandbox.set_stock(variant_id, 0)
    events = _events(adapter, recorder, 2)
    stock = events["inventory_levels/update"][0]
    assert stock.kind is ShopEventKind.STOCK_CHANGED and stock.stock_quantity == 0
    assert stock.object_id.startswith("gid://shopify/InventoryItem/") and stock.variant_ids == [variant_id]
    product = events["products/update"][0]
    assert product.kind is ShopEventKind.PRODUCT_CHANGED and variant_id in product.variant_ids
    # The core can fetch the variant from the inventory item id alone.
    assert [v.external_id for v in adapter.get_variants([stock.object_id])] == [variant_id]


def test_register_webhooks_is_idempotent(adapter: ShopifyAdapter, sandbox: ShopifySandbox) -> None:
    url = "https://connector.example.com/webhooks/shopify/1"
    assert set(adapter.register_webhooks(url)) == set(ShopifyAdapter.webhook_topics)
    adapter.register_webhooks(url)
    nodes = gql(
        sandbox,
        "{ webhookSubscriptions(first: 100) { nodes { topic endpoint { "
        "... on WebhookHttpEndpoint { callbackUrl } } } } }",
    )["data"]["webhookSubscriptions"]["nodes"]
    assert len(nodes) == len(ShopifyAdapter.webhook_topics)
    assert {n["topic"] for n in nodes} >= {"ORDERS_UPDATED", "FULFILLMENT_EVENTS_CREATE", "APP_UNINSTALLED"}


def test_fulfillment_events_and_uninstall(
    adapter: ShopifyAdapter, sandbox: ShopifySandbox, recorder: WebhookRecorder
) -> None:
    order = _order(adapter, "wh-ship-1")
    sandbox.ship_order(order.external_id, company="DHL", number="123")
    sandbox.set_delivery_status(order.external_id, "out_for_delivery")
    sandbox.uninstall()
    events = _events(adapter, recorder, 6)
    assert events["orders/create"][0].order.reference == "wh-ship-1"
    created = events["fulfillments/create"][0]
    assert created.object_id == order.external_id and created.fulfillment.tracking_number == "123"
    moved = events["fulfillment_events/create"][0]
    assert moved.fulfillment.status is ShipmentStatus.OUT_FOR_DELIVERY
    assert events["fulfillments/update"][0].fulfillment.status is ShipmentStatus.OUT_FOR_DELIVERY
    assert events["orders/updated"][0].order.status is OrderStatus.FULFILLED
    assert events["app/uninstalled"][0].kind is ShopEventKind.APP_UNINSTALLED


def test_deliveries_without_topic_or_id_are_malformed(
    adapter: ShopifyAdapter, sandbox: ShopifySandbox, recorder: WebhookRecorder
) -> None:
    sandbox.set_stock(sandbox.variant_ids()[0], 1)
    request = recorder.wait_for(1)[0]
    for dropped in (("X-Shopify-Topic",), ("X-Shopify-Webhook-Id", "X-Shopify-Event-Id")):
        headers = type(request.headers)([(k, v) for k, v in request.headers.items() if k not in dropped])
        with pytest.raises(WebhookRejected) as excinfo:
            adapter.parse_webhook(replace(request, headers=headers))
        assert excinfo.value.status == 400


def test_order_is_tagged_with_the_reference_and_can_be_paid(adapter: ShopifyAdapter, sandbox: ShopifySandbox) -> None:
    order = _order(adapter, "chat-msg-42")
    raw = next(o for o in sandbox.orders() if o["admin_graphql_api_id"] == order.external_id)
    assert adapter.reference_tag("chat-msg-42") in raw["tags"]
    assert {"name": "chatshop_reference", "value": "chat-msg-42"} in raw["note_attributes"]
    assert raw["financial_status"] == "pending"
    # The customer opens the payment link and pays: the order is open and the link is gone.
    assert "Pay now" in requests.get(order.payment_url, timeout=10).text
    requests.post(order.payment_url, timeout=10).raise_for_status()
    paid = adapter.get_order(order.external_id)
    assert paid.status is OrderStatus.OPEN and paid.payment_url is None


def test_invalid_phone_is_a_clear_error(adapter: ShopifyAdapter) -> None:
    variant_id = adapter_variant_id(adapter)
    with pytest.raises(PlatformError, match="Phone is invalid"):
        adapter.create_order(Cart([CartLine(variant_id, 1)], "bad-phone"), Customer(phone="12"), ADDRESS)


def test_order_update_refuses_address_change_after_fulfilment(adapter: ShopifyAdapter, sandbox: ShopifySandbox) -> None:
    order = _order(adapter, "addr-api-1")
    sandbox.ship_order(order.external_id, company="UPS", number="1Z")
    body = gql(
        sandbox,
        "mutation($i: OrderInput!) { orderUpdate(input: $i) { order { id } userErrors { field message } } }",
        {"i": {"id": order.external_id, "shippingAddress": {"city": "Hamburg"}}},
    )
    assert "fulfilled" in body["data"]["orderUpdate"]["userErrors"][0]["message"]


def test_find_by_number_with_or_without_hash(adapter: ShopifyAdapter) -> None:
    order = _order(adapter, "find-num-1")
    assert [o.external_id for o in adapter.find_orders(number=order.number.lstrip("#"))] == [order.external_id]


def test_settings_validation() -> None:
    base = {"shop_url": "https://x.myshopify.com", "access_token": "t", "client_secret": "s"}
    assert ShopifyAdapter.validate_settings(base)["api_version"] == "2026-10"
    with pytest.raises(Exception, match="api_version"):
        ShopifyAdapter.validate_settings({**base, "api_version": "2025-02"})
    with pytest.raises(Exception, match="shop_url"):
        ShopifyAdapter.validate_settings({**base, "shop_url": "https://x.myshopify.com/admin"})


def test_an_order_names_the_country_its_phone_number_is_read_with(adapter: ShopifyAdapter) -> None:
    # A national number typed at checkout is read with the order's (shipping) country (connector.phones).
    order = adapter.get_order(_order(adapter, "country-of-phone").external_id)
    assert order.customer.country_code == "DE" and order.customer.phone == "+4915112345678"
