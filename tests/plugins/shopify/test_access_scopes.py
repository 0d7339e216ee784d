"""Access scopes: the connection test names the scopes the token lacks; the sandbox refuses what they do not allow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from connector_shopify import queries
from connector_shopify.adapter import ShopifyAdapter
from connector_shopify.client import AccessDenied
from connector_shopify.sandbox import ShopifySandbox
from connector_shopify.sandbox.schema import parse_and_validate
from connector_shopify.scopes import REQUIRED

from connector import model
from connector.errors import ConnectionTestError
from connector.sandbox.recorder import WebhookRecorder
from tests.plugins.shopify.conftest import post

EVERYTHING_BUT_ORDERS = ["read_products", "read_inventory", "read_fulfillments"]


@contextmanager
def shop_with(scopes: list[str]) -> Iterator[tuple[ShopifySandbox, ShopifyAdapter]]:
    with ShopifySandbox(options={"access_scopes": scopes}) as sandbox:
        yield sandbox, ShopifyAdapter(ShopifyAdapter.validate_settings(sandbox.connection_settings()))


def _cart(sandbox: ShopifySandbox) -> model.Cart:
    line = model.CartLine(variant_external_id=sandbox.variant_ids()[0], quantity=1)
    return model.Cart(reference="scope-test-1", lines=[line])


def test_every_document_we_send_validates_against_the_2025_01_schema() -> None:
    documents = {name: value for name, value in vars(queries).items() if name.isupper() and "{" in value}
    assert "SHOP" in documents
    for name, document in documents.items():
        if name in ("PRODUCT_FIELDS", "VARIANT_FIELDS", "ORDER_FIELDS", "MONEY"):
            continue  # fragments of text, not documents
        parsed, errors = parse_and_validate(document)
        assert parsed is not None and not errors, (name, errors)


def test_full_scopes_pass_and_the_granted_scopes_are_reported(adapter: ShopifyAdapter) -> None:
    info = adapter.test_connection()
    assert info.name == "Chatshop Sandbox"
    assert set(REQUIRED) <= set(info.details["access_scopes"])


def test_a_token_without_order_scopes_fails_the_connection_test_naming_them() -> None:
    with shop_with(EVERYTHING_BUT_ORDERS) as (_sandbox, adapter), pytest.raises(ConnectionTestError) as caught:
        adapter.test_connection()
    message = str(caught.value)
    assert "lacks 2 access scopes" in message
    assert "read_orders for order lookups in chat" in message
    assert "write_orders for creating orders from a chat cart" in message
    assert "read_products for" not in message  # granted scopes are not reported as missing
    assert "Granted now: read_fulfillments, read_inventory, read_products" in message


def test_write_scopes_imply_their_read_scopes() -> None:
    granted = ["write_products", "read_inventory", "write_orders", "read_fulfillments"]
    with shop_with(granted) as (sandbox, adapter):
        info = adapter.test_connection()
        # Shopify lists the scopes as granted; read_products and read_orders come with the write scopes.
        assert info.details["access_scopes"] == sorted(granted)
        assert adapter.get_variants(sandbox.variant_ids()[:1])
        assert adapter.find_orders(email="nobody@example.com") == []


def test_the_sandbox_refuses_fields_outside_the_scopes_in_shopifys_shape() -> None:
    with shop_with(EVERYTHING_BUT_ORDERS) as (sandbox, _adapter):
        response = post(sandbox, "{ shop { name } orders(first: 1) { nodes { id } } }")
        assert response.status_code == 200
        body = response.json()
        # `orders` is non-null, so its null takes the whole of `data` with it.
        assert body["data"] is None
        assert body["errors"] == [
            {
                "message": "Access denied for orders field. Required access: `read_orders` access scope.",
                "locations": [{"line": 1, "column": 17}],
                "path": ["orders"],
                "extensions": {
                    "code": "ACCESS_DENIED",
                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": "`read_orders` access scope.",
                },
            }
        ]
        assert body["extensions"]["cost"]["throttleStatus"]

        variant = sandbox.variant_ids()[0]
        created = post(
            sandbox,
            "mutation($o: OrderCreateOrderInput!) { orderCreate(order: $o) { order { id } userErrors { message } } }",
            {"o": {"lineItems": [{"variantId": variant, "quantity": 1}]}},
        ).json()
        # The payload is nullable: the mutation is refused, not run, and the rest of `data` stays.
        assert created["data"] == {"orderCreate": None}
        assert created["errors"][0]["extensions"]["requiredAccess"] == "`write_orders` access scope."
        assert sandbox.orders() == []


def test_the_client_surfaces_a_missing_scope_by_name_and_does_not_retry() -> None:
    with shop_with(EVERYTHING_BUT_ORDERS) as (sandbox, adapter):
        with pytest.raises(AccessDenied) as lookup:
            adapter.find_orders(phone="+4915112345678")
        assert lookup.value.scopes == ["read_orders"]
        assert not lookup.value.retryable
        assert "lacks the access scope read_orders" in str(lookup.value)

        customer = model.Customer(email="ann@example.com", phone="+4915112345678")
        with pytest.raises(AccessDenied, match="read_orders"):  # the idempotency lookup comes first
            adapter.create_order(_cart(sandbox), customer, None)
        assert sandbox.orders() == []


def test_order_creation_needs_write_orders() -> None:
    with shop_with([*EVERYTHING_BUT_ORDERS, "read_orders"]) as (sandbox, adapter):
        customer = model.Customer(email="ann@example.com", phone="+4915112345678")
        with pytest.raises(AccessDenied) as caught:
            adapter.create_order(_cart(sandbox), customer, None)
        assert caught.value.scopes == ["write_orders"]
        assert sandbox.orders() == []


def test_webhook_topics_need_their_resources_scope() -> None:
    granted = ["read_products", "read_inventory", "write_orders"]
    with (
        shop_with(granted) as (_sandbox, adapter),
        WebhookRecorder() as recorder,
        pytest.raises(AccessDenied) as caught,
    ):
        adapter.register_webhooks(recorder.url + "/hook")
    assert caught.value.scopes == ["read_fulfillments"]
    assert "read_fulfillments (or read_marketplace_orders)" in str(caught.value)


def test_a_catalog_read_without_read_products_fails_by_name() -> None:
    granted = ["read_inventory", "write_orders", "read_fulfillments"]
    with shop_with(granted) as (_sandbox, adapter), pytest.raises(AccessDenied, match="read_products"):
        list(adapter.iter_variants())


def test_scopes_change_through_the_control_api(sandbox: ShopifySandbox, adapter: ShopifyAdapter) -> None:
    assert sandbox.set_access_scopes(EVERYTHING_BUT_ORDERS) == EVERYTHING_BUT_ORDERS
    with pytest.raises(ConnectionTestError, match="read_orders"):
        adapter.test_connection()
    sandbox.set_access_scopes([*EVERYTHING_BUT_ORDERS, "write_orders"])
    assert adapter.test_connection().name == "Chatshop Sandbox"

    bad = requests.post(f"{sandbox.url}/_sandbox/access_scopes", json={"scopes": ["orders"]}, timeout=10)
    assert bad.status_code == 400
    assert "'orders' is not an access scope handle" in bad.json()["errors"]
    assert requests.post(f"{sandbox.url}/_sandbox/access_scopes", json={}, timeout=10).status_code == 400


def test_the_connection_test_over_the_api_names_the_missing_scope(
    client: Any, api_headers: dict[str, str], runtime: Any
) -> None:
    with shop_with(EVERYTHING_BUT_ORDERS) as (sandbox, _adapter):
        created = client.post(
            "/api/v1/connections/shops",
            json={"platform": "shopify", "name": "Scopes", "settings": sandbox.connection_settings()},
            headers=api_headers,
        )
        assert created.status_code == 201, created.get_json()
        url = f"/api/v1/connections/shop/{created.get_json()['id']}/test"
        result = client.post(url, headers=api_headers).get_json()
        assert result["ok"] is False
        assert "read_orders for order lookups" in result["error"]

        sandbox.set_access_scopes([*EVERYTHING_BUT_ORDERS, "write_orders"])
        assert client.post(url, headers=api_headers).get_json()["ok"] is True
