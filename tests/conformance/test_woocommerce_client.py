"""WooCommerce's official Python client (``woocommerce.API``) against the WooCommerce sandbox.

Only the base URL is the sandbox's. The sandbox is plain HTTP, so the client signs every request with
OAuth 1.0a (HMAC-SHA256, parameters in the query string), exactly as it would against a real store there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator

import pytest
from connector_woocommerce.sandbox import WooCommerceSandbox
from woocommerce import API

from connector.sandbox.recorder import WebhookRecorder


@pytest.fixture
def sandbox() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox() as sb:
        yield sb


@pytest.fixture
def wcapi(sandbox: WooCommerceSandbox) -> API:
    settings = sandbox.connection_settings()
    return API(
        url=sandbox.url, consumer_key=settings["consumer_key"], consumer_secret=settings["consumer_secret"], timeout=10
    )


def test_the_catalog_reads_page_by_page(wcapi: API) -> None:
    first = wcapi.get("products", params={"per_page": 20, "page": 1})
    assert first.status_code == 200, first.text
    total, pages = int(first.headers["X-WP-Total"]), int(first.headers["X-WP-TotalPages"])
    seen = [p["id"] for p in first.json()]
    for page in range(2, pages + 1):
        response = wcapi.get("products", params={"per_page": 20, "page": page})
        assert response.status_code == 200, response.text
        seen += [p["id"] for p in response.json()]
    assert len(seen) == len(set(seen)) == total
    variable = next(p for p in first.json() if p["type"] == "variable")
    variations = wcapi.get(f"products/{variable['id']}/variations", params={"per_page": 100})
    assert variations.status_code == 200
    assert {v["id"] for v in variations.json()} == set(variable["variations"])


def test_orders_are_created_and_updated(sandbox: WooCommerceSandbox, wcapi: API) -> None:
    product = next(p for p in wcapi.get("products", params={"type": "simple"}).json() if p["purchasable"])
    order = {
        "payment_method": "bacs",
        "billing": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "country": "DE"},
        "line_items": [{"product_id": product["id"], "quantity": 2}],
        "meta_data": [{"key": "_chatshop_ref", "value": "msg-1"}],
    }
    created = wcapi.post("orders", order)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "pending" and body["line_items"][0]["quantity"] == 2
    updated = wcapi.put(f"orders/{body['id']}", {"status": "processing"})
    assert updated.status_code == 200 and updated.json()["status"] == "processing"
    assert [o["status"] for o in sandbox.orders() if o["id"] == body["id"]] == ["processing"]


def test_webhooks_register_with_woocommerce_hooks_and_arrive_signed(wcapi: API) -> None:
    product = next(p for p in wcapi.get("products", params={"type": "simple"}).json() if p["purchasable"])
    with WebhookRecorder() as recorder:
        created = wcapi.post(
            "webhooks",
            {"name": "Chat orders", "topic": "order.created", "delivery_url": recorder.url + "/wc", "secret": "s3cr&t"},
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        # the WordPress actions WooCommerce really listens to for this topic
        assert hook["hooks"] == ["woocommerce_new_order"] and hook["status"] == "active"
        wcapi.post("orders", {"line_items": [{"product_id": product["id"], "quantity": 1}]})
        ping, delivery = recorder.wait_for(2)
    assert ping.body == f"webhook_id={hook['id']}".encode()
    assert delivery.headers["X-WC-Webhook-Topic"] == "order.created"
    digest = hmac.new(b"s3cr&t", delivery.body, hashlib.sha256).digest()
    assert hmac.compare_digest(base64.b64encode(digest).decode(), delivery.headers["X-WC-Webhook-Signature"])


def test_errors_come_back_as_woocommerce_words_them(sandbox: WooCommerceSandbox, wcapi: API) -> None:
    missing = wcapi.get("products/999999999")
    assert missing.status_code == 404 and missing.json()["code"] == "woocommerce_rest_product_invalid_id"
    invalid = wcapi.post("orders", {"line_items": [{"product_id": 999999999, "quantity": 1}]})
    assert invalid.status_code == 400 and invalid.json()["code"] == "woocommerce_rest_invalid_product_id"
    settings = sandbox.connection_settings()
    wrong = API(url=sandbox.url, consumer_key=settings["consumer_key"], consumer_secret="cs_wrong", timeout=10)
    refused = wrong.get("products")
    assert refused.status_code == 401
    assert refused.json()["message"] == "Invalid signature - provided signature does not match."
