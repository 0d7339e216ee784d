"""Fixtures for the WooCommerce plugin tests: a sandbox on a free port, an adapter pointed at it, raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from connector_woocommerce.adapter import WooCommerceAdapter
from connector_woocommerce.sandbox import WooCommerceSandbox
from requests_oauthlib import OAuth1

from connector.sandbox.recorder import WebhookRecorder

API = "/wp-json/wc/v3"


@pytest.fixture
def sandbox() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox() as sb:
        yield sb


@pytest.fixture
def adapter(sandbox: WooCommerceSandbox) -> WooCommerceAdapter:
    return WooCommerceAdapter(WooCommerceAdapter.validate_settings(sandbox.connection_settings()))


def oauth1(settings: dict[str, str]) -> OAuth1:
    """Requests auth signing with OAuth 1.0a, as WooCommerce requires of REST clients over plain HTTP."""
    return OAuth1(settings["consumer_key"], settings["consumer_secret"], signature_method="HMAC-SHA256")


@pytest.fixture
def api(sandbox: WooCommerceSandbox) -> requests.Session:
    """A plain HTTP session authenticated like a WooCommerce REST client (the sandbox is plain HTTP: OAuth 1.0a)."""
    session = requests.Session()
    session.auth = oauth1(sandbox.connection_settings())
    return session


@pytest.fixture
def recorder() -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as rec:
        yield rec
