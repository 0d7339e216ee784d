"""WooCommerce webhooks: registration through the REST API, the creation ping, the signature, the payloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
import requests
from connector_woocommerce.adapter import WooCommerceAdapter
from connector_woocommerce.sandbox import WooCommerceSandbox
from connector_woocommerce.webhooks import sign

from connector.adapters import WebhookRequest
from connector.errors import WebhookRejected
from connector.model import ShopEventKind
from connector.sandbox.recorder import WebhookRecorder

from .conftest import API


def _deliveries(recorder: WebhookRecorder, count: int) -> list[WebhookRequest]:
    """The first ``count`` signed deliveries (pings skipped)."""

    def signed(requests: list[WebhookRequest]) -> list[WebhookRequest]:
        return [r for r in requests if r.headers.get("X-WC-Webhook-Signature")]

    return signed(recorder.wait_until(lambda requests: len(signed(requests)) >= count))[:count]


def _variable_product(sandbox: WooCommerceSandbox, api: requests.Session) -> dict:
    return api.get(f"{sandbox.url}{API}/products", params={"type": "variable", "per_page": 1}).json()[0]


def test_registration_pings_each_new_webhook_unsigned(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session, recorder: WebhookRecorder
) -> None:
    topics = adapter.register_webhooks(recorder.url + "/hook")
    assert topics == list(adapter.webhook_topics)
    hooks = api.get(f"{sandbox.url}{API}/webhooks").json()
    pings = recorder.wait_for(len(topics))
    assert sorted(p.body.decode() for p in pings) == sorted(f"webhook_id={h['id']}" for h in hooks)
    for ping in pings:
        assert "X-WC-Webhook-Signature" not in ping.headers
        reply = adapter.handshake(ping)
        assert reply is not None and reply.status == 200
        with pytest.raises(WebhookRejected) as excinfo:  # a ping is never taken for an event
            adapter.verify_webhook(ping)
        assert excinfo.value.status == 401


def test_registration_is_idempotent_and_reactivates(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session, recorder: WebhookRecorder
) -> None:
    url = recorder.url + "/hook"
    adapter.register_webhooks(url)
    hooks = api.get(f"{sandbox.url}{API}/webhooks").json()
    # WooCommerce disables a webhook after repeated failed deliveries.
    api.put(f"{sandbox.url}{API}/webhooks/{hooks[0]['id']}", json={"status": "disabled"}).raise_for_status()
    adapter.register_webhooks(url)
    again = api.get(f"{sandbox.url}{API}/webhooks").json()
    assert sorted(h["id"] for h in again) == sorted(h["id"] for h in hooks)
    assert sorted(h["topic"] for h in again) == sorted(adapter.webhook_topics)
    assert all(h["status"] == "active" for h in again)


def test_signature_is_base64_hmac_sha256_of_the_raw_body(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session, recorder: WebhookRecorder
) -> None:
    adapter.register_webhooks(recorder.url + "/hook")
    simple = next(
        v for v in sandbox.variant_ids() if api.get(f"{sandbox.url}{API}/products/{v}").json()["type"] == "simple"
    )
    sandbox.set_stock(simple, 17)
    delivery = _deliveries(recorder, 1)[0]
    secret = sandbox.connection_settings()["webhook_secret"].encode()
    expected = base64.b64encode(hmac.new(secret, delivery.body, hashlib.sha256).digest()).decode()
    assert delivery.headers["X-WC-Webhook-Signature"] == expected
    assert delivery.headers["X-WC-Webhook-Topic"] == "product.updated"
    assert delivery.headers["X-WC-Webhook-Resource"] == "product"
    assert delivery.headers["X-WC-Webhook-Event"] == "updated"
    assert delivery.headers["X-WC-Webhook-Source"] == f"{sandbox.url}/"
    assert len(delivery.headers["X-WC-Webhook-Delivery-ID"]) == 32
    # The body is the REST v3 resource, JSON-encoded the PHP way (slashes escaped).
    assert b"\\/" in delivery.body
    assert json.loads(delivery.body) == api.get(f"{sandbox.url}{API}/products/{simple}").json()
    adapter.verify_webhook(delivery)
    parsed = adapter.parse_webhook(delivery)
    assert parsed.delivery_id.startswith(delivery.headers["X-WC-Webhook-Delivery-ID"])
    stock = next(e for e in parsed.events if e.kind is ShopEventKind.STOCK_CHANGED)
    assert (stock.object_id, stock.stock_quantity) == (simple, 17)


def test_secret_with_html_entities_is_decoded_before_signing() -> None:
    body = b'{"id":1}'
    expected = base64.b64encode(hmac.new(b"a&b", body, hashlib.sha256).digest()).decode()
    assert sign("a&amp;b", body) == expected


def test_variation_change_arrives_as_product_updated(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session, recorder: WebhookRecorder
) -> None:
    adapter.register_webhooks(recorder.url + "/hook")
    product = _variable_product(sandbox, api)
    variation_id = str(product["variations"][0])
    sandbox.set_stock(variation_id, 0)
    delivery = _deliveries(recorder, 1)[0]
    body = json.loads(delivery.body)
    assert (body["type"], body["parent_id"], body["stock_status"]) == ("variation", product["id"], "outofstock")
    events = adapter.parse_webhook(delivery).events
    changed = next(e for e in events if e.kind is ShopEventKind.PRODUCT_CHANGED)
    assert (changed.object_id, changed.variant_ids) == (str(product["id"]), [variation_id])
    stock = next(e for e in events if e.kind is ShopEventKind.STOCK_CHANGED)
    assert (stock.object_id, stock.stock_quantity) == (variation_id, 0)


def test_deleted_product_body_is_just_the_id(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session, recorder: WebhookRecorder
) -> None:
    adapter.register_webhooks(recorder.url + "/hook")
    product = _variable_product(sandbox, api)
    sandbox.delete_product(str(product["id"]))
    delivery = _deliveries(recorder, 1)[0]
    assert json.loads(delivery.body) == {"id": product["id"]}
    parsed = adapter.parse_webhook(delivery)
    assert [(e.kind, e.object_id) for e in parsed.events] == [(ShopEventKind.PRODUCT_DELETED, str(product["id"]))]


def test_webhooks_only_go_to_active_subscriptions(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session, recorder: WebhookRecorder
) -> None:
    adapter.register_webhooks(recorder.url + "/hook")
    for hook in api.get(f"{sandbox.url}{API}/webhooks").json():
        api.put(f"{sandbox.url}{API}/webhooks/{hook['id']}", json={"status": "paused"}).raise_for_status()
    pings = len(recorder.requests)
    sandbox.set_stock(sandbox.variant_ids()[0], 3)
    sandbox.store.sender.wait_idle(5)
    assert len(recorder.requests) == pings


def test_malformed_deliveries_are_400s(adapter: WooCommerceAdapter) -> None:
    def request(body: bytes, topic: str | None = "product.updated") -> WebhookRequest:
        headers = {"X-WC-Webhook-Topic": topic} if topic else {}
        return WebhookRequest("POST", "http://x/hook", headers, {}, body)

    for bad in (request(b"not json"), request(b"[1, 2]"), request(b'{"name": "no id"}'), request(b'{"id": 1}', None)):
        with pytest.raises(WebhookRejected) as excinfo:
            adapter.parse_webhook(bad)
        assert excinfo.value.status == 400
    order_without_total = request(b'{"id": 5, "status": "pending"}', "order.updated")
    with pytest.raises(WebhookRejected) as excinfo:
        adapter.parse_webhook(order_without_total)
    assert excinfo.value.status == 400


def test_same_second_deliveries_get_distinct_ids(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, recorder: WebhookRecorder
) -> None:
    """WooCommerce derives the delivery id from the webhook id and the current second only."""
    adapter.register_webhooks(recorder.url + "/hook")
    first, second = sandbox.variant_ids()[:2]
    sandbox.set_stock(first, 1)
    sandbox.set_stock(second, 2)
    deliveries = _deliveries(recorder, 2)
    ids = [adapter.parse_webhook(d).delivery_id for d in deliveries]
    assert ids[0] != ids[1]
    assert adapter.parse_webhook(deliveries[0]).delivery_id == ids[0]  # the same bytes again: the same id


def test_delivery_id_without_the_header_is_stable(adapter: WooCommerceAdapter) -> None:
    body = b'{"id": 9, "type": "simple", "date_modified_gmt": "2026-01-02T03:04:05"}'
    request = WebhookRequest("POST", "http://x/hook", {"X-WC-Webhook-Topic": "product.updated"}, {}, body)
    assert adapter.parse_webhook(request).delivery_id == adapter.parse_webhook(request).delivery_id
    other = WebhookRequest("POST", "http://x/hook", {"X-WC-Webhook-Topic": "product.updated"}, {}, body + b" ")
    assert adapter.parse_webhook(other).delivery_id != adapter.parse_webhook(request).delivery_id


def test_failing_endpoint_gets_the_webhook_disabled_and_registration_revives_it(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session
) -> None:
    with WebhookRecorder(status=500) as failing:
        adapter.register_webhooks(failing.url + "/hook")
        variant = sandbox.variant_ids()[0]
        for quantity in range(7):
            sandbox.set_stock(variant, quantity)
        failing.wait_for(len(adapter.webhook_topics) + 7)
        sandbox.store.sender.wait_idle(5)
        hooks = {h["topic"]: h for h in api.get(f"{sandbox.url}{API}/webhooks").json()}
        assert hooks["product.updated"]["status"] == "disabled"
        assert hooks["order.updated"]["status"] == "active"
        delivered = len(failing.requests)
        sandbox.set_stock(variant, 9)
        sandbox.store.sender.wait_idle(5)
        assert len(failing.requests) == delivered, "a disabled webhook delivers nothing"
        adapter.register_webhooks(failing.url + "/hook")
        sandbox.set_stock(variant, 10)
        failing.wait_for(delivered + 1)


def test_control_api_subscription_uses_the_connection_secret(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, recorder: WebhookRecorder
) -> None:
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    sandbox.set_price(sandbox.variant_ids()[0], Decimal("9.99"))
    delivery = _deliveries(recorder, 1)[0]
    adapter.verify_webhook(delivery)
    assert any(e.kind is ShopEventKind.PRODUCT_CHANGED for e in adapter.parse_webhook(delivery).events)
