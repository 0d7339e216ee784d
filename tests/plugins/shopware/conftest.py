"""Fixtures for the Shopware plugin tests: a sandbox shop, an adapter connected to it, a webhook recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.sandbox.recorder import WebhookRecorder
from connector_shopware.adapter import ShopwareAdapter
from connector_shopware.sandbox import ShopwareSandbox


@pytest.fixture
def sandbox() -> Iterator[ShopwareSandbox]:
    with ShopwareSandbox() as sb:
        yield sb


@pytest.fixture
def adapter(sandbox: ShopwareSandbox) -> ShopwareAdapter:
    return ShopwareAdapter(ShopwareAdapter.validate_settings(sandbox.connection_settings()))


@pytest.fixture
def recorder(adapter: ShopwareAdapter) -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as rec:
        adapter.register_webhooks(rec.url + "/hook")
        yield rec
