"""Replayed webhooks: a delivery the platform signed (or stamped) too long ago is refused with 400 and counted.

Deduplication forgets a delivery when its row is pruned (30 days); these deliveries are signed by the sandboxes
exactly as Shopify and Shopware sign them, only with an old send time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from connector.api.auth import create_token
from connector.db.models import WebhookEvent
from connector.runtime import Runtime
from tests.conftest import Stack, start_stack, stop_stack

DAY = 24 * 3600


@pytest.fixture
def shopify(runtime: Runtime) -> Iterator[Stack]:
    stack = start_stack(runtime, "shopify")
    yield stack
    stop_stack(stack)


@pytest.fixture
def shopware(runtime: Runtime) -> Iterator[Stack]:
    stack = start_stack(runtime, "shopware")
    yield stack
    stop_stack(stack)


def _stored(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


def _refused(stack: Stack, adapter: str) -> float:
    """``connector_webhooks_refused_total{platform=adapter,reason="replay"}``, as Prometheus scrapes it."""
    token = create_token(stack.runtime, "prometheus")
    text = requests.get(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    prefix = f'connector_webhooks_refused_total{{platform="{adapter}",reason="replay"}} '
    return next((float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


def _shopify_delivery(stack: Stack, triggered_at: datetime) -> requests.Response:
    body = json.dumps({"id": 987654321}).encode()
    headers = stack.shop.api.webhook_headers("products/delete", body, str(uuid.uuid4()))
    headers["X-Shopify-Triggered-At"] = triggered_at.strftime("%Y-%m-%dT%H:%M:%S.%f123Z")  # nanoseconds, as sent
    return requests.post(stack.shop_webhook_url(), data=body, headers=headers, timeout=10)


def test_a_shopify_delivery_triggered_days_ago_is_refused_and_counted(shopify: Stack, runtime: Runtime) -> None:
    before = _refused(shopify, "shopify")
    old = _shopify_delivery(shopify, datetime.now(UTC) - timedelta(days=31))
    assert old.status_code == 400
    assert "possible replay" in old.json()["error"]
    assert _stored(runtime) == 0
    assert _refused(shopify, "shopify") == before + 1
    # A delivery from the future beyond the clock skew allowed is no better.
    ahead = _shopify_delivery(shopify, datetime.now(UTC) + timedelta(hours=1))
    assert ahead.status_code == 400 and "future" in ahead.json()["error"]
    # Retries within the window (Shopify retries for 4 hours with the original delivery) still pass.
    retry = _shopify_delivery(shopify, datetime.now(UTC) - timedelta(hours=4))
    assert retry.status_code == 200, retry.text
    assert _stored(runtime) == 1


def _shopware_delivery(stack: Stack, timestamp: int) -> requests.Response:
    store = stack.shop.store
    product_id = stack.runtime.connections.shop_adapter(stack.shop_id).iter_variants().__next__().external_id
    payload = [{"entity": "product", "operation": "update", "primaryKey": product_id, "updatedFields": ["stock"]}]
    body = store.webhook_body("product.written", payload, timestamp=timestamp)
    headers = {"Content-Type": "application/json", "shopware-shop-signature": store.sign(body)}
    return requests.post(stack.shop_webhook_url(), data=body, headers=headers, timeout=10)


def test_a_shopware_delivery_signed_long_ago_is_refused_and_counted(shopware: Stack, runtime: Runtime) -> None:
    before = _refused(shopware, "shopware")
    old = _shopware_delivery(shopware, int(time.time()) - 31 * DAY)
    assert old.status_code == 400
    assert "possible replay" in old.json()["error"]
    assert _stored(runtime) == 0
    assert _refused(shopware, "shopware") == before + 1
    fresh = _shopware_delivery(shopware, int(time.time()))
    assert fresh.status_code == 200, fresh.text
    assert _stored(runtime) == 1


def test_the_replay_window_is_a_setting(shopware: Stack, runtime: Runtime) -> None:
    runtime.config.server.webhook_max_age_seconds = 300
    ten_minutes_ago = _shopware_delivery(shopware, int(time.time()) - 600)
    assert ten_minutes_ago.status_code == 400
    assert "300 s" in ten_minutes_ago.json()["error"]
