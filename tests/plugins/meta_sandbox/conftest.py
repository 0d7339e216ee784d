"""Fixtures for the Graph sandbox tests: a running sandbox, a thin Graph API caller and a webhook recorder."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from connector_meta.sandbox import GraphSandbox

from connector.sandbox.recorder import WebhookRecorder

CUSTOMER = "4915112345678"


class Graph:
    """Plain ``requests`` calls to the sandbox's Graph API with the demo business's token."""

    def __init__(self, sandbox: GraphSandbox):
        self.settings = sandbox.connection_settings()
        self.base = f"{self.settings['graph_url']}/{self.settings['api_version']}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.settings['access_token']}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(f"{self.base}/{path}", timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(f"{self.base}/{path}", timeout=10, **kwargs)

    def send_whatsapp(self, message: dict[str, Any], to: str = CUSTOMER) -> requests.Response:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}
        return self.post(f"{self.settings['phone_number_id']}/messages", json=body)

    def send_messenger(self, body: dict[str, Any], node: str = "me") -> requests.Response:
        return self.post(f"{node}/messages", json=body)

    def items_batch(self, requests_: list[dict[str, Any]], **params: Any) -> requests.Response:
        body = {"item_type": "PRODUCT_ITEM", "requests": requests_, **params}
        return self.post(f"{self.settings['catalog_id']}/items_batch", json=body)

    @staticmethod
    def error(response: requests.Response) -> dict[str, Any]:
        """The ``error`` object of a Graph error answer."""
        return response.json()["error"]

    def signed(self, request: Any) -> dict[str, Any]:
        """Check Meta's signature on a recorded webhook (raw bytes) and return the parsed body."""
        header = request.headers["X-Hub-Signature-256"]
        key = self.settings["app_secret"].encode()
        expected = "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(header, expected), "bad X-Hub-Signature-256"
        return json.loads(request.body)


def product(retailer_id: str, **overrides: Any) -> dict[str, Any]:
    """A complete items_batch product as a shop sync would send it."""
    data = {
        "id": retailer_id,
        "item_group_id": retailer_id.split("-v")[0],
        "title": f"Linen shirt {retailer_id}",
        "description": "A light linen shirt.",
        "availability": "in stock",
        "condition": "new",
        "price": "49.90 EUR",
        "link": f"https://shop.example.com/p/{retailer_id}",
        "image_link": f"https://images.example.com/{retailer_id}.jpg",
        "brand": "Nordkind",
    }
    data.update(overrides)
    return data


@pytest.fixture
def sandbox() -> Iterator[GraphSandbox]:
    # The sandbox's own tests read webhooks in the order it planned them: one delivery at a time (the default, 4 at
    # once as Meta does, has its own test).
    with GraphSandbox(options={"webhook_concurrency": 1}) as running:
        yield running


@pytest.fixture
def graph(sandbox: GraphSandbox) -> Graph:
    return Graph(sandbox)


@pytest.fixture
def make_product() -> Any:
    return product


@pytest.fixture
def recorder() -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as running:
        yield running
