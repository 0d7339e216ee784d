"""Fixtures for the WooCommerce plugin tests: a sandbox on a free port, an adapter pointed at it, raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from connector_woocommerce.adapter import WooCommerceAdapter
from connector_woocommerce.sandbox import WooCommerceSandbox

from connector.sandbox.recorder import WebhookRecorder

API = "/wp-json/wc/v3"


@pytest.fixture
def sandbox() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox() as sb:
        yield sb


@pytest.fixture
def adapter(sandbox: WooCommerceSandbox) -> WooCommerceAdapter:
    return WooCommerceAdapter(WooCommerceAdapter.validate_settings(sandbox.connection_settings()))


@pytest.fixture
def api(sandbox: WooCommerceSandbox) -> requests.Session:
    """A plain HTTP session authenticated like a WooCommerce REST client."""
    session = requests.Session()
    settings = sandbox.connection_settings()
    session.auth = (settings["consumer_key"], settings["consumer_secret"])
    return session


@pytest.fixture
def recorder() -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as rec:
        yield rec
