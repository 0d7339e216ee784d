"""Shopware app webhooks: registration through the Admin API, the signature, the events they become."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace

import pytest
import requests
from connector_shopware.adapter import ShopwareAdapter
from connector_shopware.sandbox import ShopwareSandbox

from connector.errors import ConnectorError, WebhookRejected
from connector.model import ShipmentStatus, ShopEventKind
from connector.sandbox.recorder import WebhookRecorder


def admin_webhooks(adapter: ShopwareAdapter) -> list[dict]:
    return adapter.api.search("webhook", {"limit": 500})["data"]


def test_registration_is_idempotent_and_app_owned(adapter: ShopwareAdapter, sandbox: ShopwareSandbox) -> None:
    url = "http://127.0.0.1:9/hook"
    topics = adapter.register_webhooks(url)
    assert set(topics) == set(adapter.webhook_topics)
    first = admin_webhooks(adapter)
    assert adapter.register_webhooks(url) == topics
    second = admin_webhooks(adapter)
    assert len(second) == len(first) == len(adapter.webhook_topics)
    assert {w["appId"] for w in second} == {sandbox.store.app["id"]}


def test_registration_needs_the_app(sandbox: ShopwareSandbox) -> None:
    settings = {**sandbox.connection_settings(), "app_name": "SomeOtherApp"}
    adapter = ShopwareAdapter(ShopwareAdapter.validate_settings(settings))
    with pytest.raises(ConnectorError, match="not installed"):
        adapter.register_webhooks("http://127.0.0.1:9/hook")


def test_signature_is_lowercase_hex_hmac_of_the_raw_body(
    adapter: ShopwareAdapter, sandbox: ShopwareSandbox, recorder: WebhookRecorder
) -> None:
    variant_id = sandbox.variant_ids()[0]
    sandbox.set_stock(variant_id, 2)
    request = recorder.wait_for(1)[0]
    expected = hmac.new(sandbox.store.shop_secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["shopware-shop-signature"] == expected
    body = json.loads(request.body)
    assert body["data"]["event"] == "product.written"
    assert body["source"]["eventId"] and body["source"]["shopId"] and body["source"]["url"] == sandbox.url
    adapter.verify_webhook(request)
    parsed = adapter.parse_webhook(request)
    assert parsed.delivery_id == body["source"]["eventId"]
    assert [(e.kind, e.object_id) for e in parsed.events] == [(ShopEventKind.STOCK_CHANGED, variant_id)]


def test_webhooks_without_an_app_are_unsigned_and_rejected(adapter: ShopwareAdapter, sandbox: ShopwareSandbox) -> None:
    with WebhookRecorder() as rec:
        # A webhook created without appId: Shopware has no secret to sign it with.
        adapter.api.request(
            "POST", "/api/webhook", json={"name": "plain", "eventName": "product.written", "url": rec.url + "/hook"}
        )
        sandbox.set_stock(sandbox.variant_ids()[0], 1)
        request = rec.wait_for(1)[0]
        assert "shopware-shop-signature" not in request.headers
        with pytest.raises(WebhookRejected) as excinfo:
            adapter.verify_webhook(request)
        assert excinfo.value.status == 401


def test_product_change_and_delete_events(
    adapter: ShopwareAdapter, sandbox: ShopwareSandbox, recorder: WebhookRecorder
) -> None:
    parent_id = next(iter(sandbox.store.children))
    children = list(sandbox.store.children[parent_id])
    sandbox.set_sku(children[0], "NEW-NUMBER-1")
    sandbox.delete_product(parent_id)
    sandbox.wait_webhooks()
    parsed = [adapter.parse_webhook(r) for r in recorder.wait_for(3)]
    assert parsed[0].events[0].kind is ShopEventKind.PRODUCT_CHANGED and parsed[0].events[0].object_id == children[0]
    deleted = {e.object_id for p in parsed[1:] for e in p.events if e.kind is ShopEventKind.PRODUCT_DELETED}
    assert deleted == {parent_id, *children}
    assert {p.topic for p in parsed[1:]} == {"product.deleted", "product.written"}


def test_app_uninstall_event(adapter: ShopwareAdapter, sandbox: ShopwareSandbox, recorder: WebhookRecorder) -> None:
    sandbox.uninstall_app()
    request = recorder.wait_for(1)[0]
    adapter.verify_webhook(request)
    parsed = adapter.parse_webhook(request)
    assert parsed.topic == "app.deleted"
    assert [e.kind for e in parsed.events] == [ShopEventKind.APP_UNINSTALLED]
    assert admin_webhooks(adapter) == []  # Shopware drops an uninstalled app's webhooks


def test_delivery_states_become_shipment_statuses(
    adapter: ShopwareAdapter, sandbox: ShopwareSandbox, recorder: WebhookRecorder, placed_order
) -> None:
    order = placed_order(adapter, "wh-states")
    sandbox.ship_order(order.external_id, company="DHL", number="JJD0001")
    sandbox.set_delivery_status(order.external_id, "failed")
    sandbox.wait_webhooks()
    by_topic = {}
    for request in recorder.requests:
        parsed = adapter.parse_webhook(request)
        by_topic.setdefault(parsed.topic, parsed)
    placed = by_topic["checkout.order.placed"].events[0]
    assert placed.kind is ShopEventKind.ORDER_CHANGED and placed.order.number == order.number
    shipped = by_topic["state_enter.order_delivery.state.shipped"].events[0]
    assert shipped.fulfillment.status is ShipmentStatus.IN_TRANSIT and shipped.fulfillment.tracking_number == "JJD0001"
    returned = by_topic["state_enter.order_delivery.state.returned"].events[0]
    assert returned.kind is ShopEventKind.FULFILLMENT_CHANGED and returned.fulfillment.status is ShipmentStatus.FAILED


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"data": {"payload": []}, "source": {}}',
        b'{"data": {"event": "product.written", "payload": [{"entity": "product"}]}, "source": {}}',
    ],
)
def test_malformed_bodies_are_400(
    adapter: ShopwareAdapter, sandbox: ShopwareSandbox, recorder: WebhookRecorder, body: bytes
) -> None:
    sandbox.set_stock(sandbox.variant_ids()[0], 3)
    request = recorder.wait_for(1)[0]
    with pytest.raises(WebhookRejected) as excinfo:
        adapter.parse_webhook(replace(request, body=body))
    assert excinfo.value.status == 400


def test_sandbox_webhook_api_refuses_incomplete_webhooks(sandbox: ShopwareSandbox, adapter: ShopwareAdapter) -> None:
    response = requests.post(
        f"{sandbox.url}/api/webhook",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {adapter.api.token()}"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "VIOLATION::IS_BLANK_ERROR"
