"""Fixtures for the Shopify plugin tests: a running sandbox, an adapter pointed at it, raw GraphQL calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from connector_shopify.adapter import ShopifyAdapter
from connector_shopify.sandbox import ShopifySandbox

from connector.sandbox.recorder import WebhookRecorder


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox() as sb:
        yield sb


@pytest.fixture
def adapter(sandbox: ShopifySandbox) -> ShopifyAdapter:
    return ShopifyAdapter(ShopifyAdapter.validate_settings(sandbox.connection_settings()))


@pytest.fixture
def recorder(adapter: ShopifyAdapter) -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as rec:
        adapter.register_webhooks(rec.url + "/hook")
        yield rec


def post(
    sandbox: ShopifySandbox, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
) -> requests.Response:
    """POST a document to the sandbox's Admin GraphQL endpoint, as Shopify's own examples do."""
    token = kwargs.pop("token", sandbox.options["access_token"])
    version = kwargs.pop("version", "2026-10")
    headers = {"X-Shopify-Access-Token": token} if token else {}
    return requests.post(
        f"{sandbox.url}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30,
        **kwargs,
    )


def gql(sandbox: ShopifySandbox, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = post(sandbox, query, variables)
    assert response.status_code == 200, response.text
    return response.json()
