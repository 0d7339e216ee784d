"""Fixtures for the client-conformance suite: the Graph sandbox, reached by Meta's own client libraries.

Only the base URL (or the HTTP transport that carries a library's requests) is pointed at the sandbox; the libraries
are used exactly as a bot or shop integration uses them against graph.facebook.com.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from connector_meta.sandbox import GraphSandbox
from facebook_business.adobjects.productcatalog import ProductCatalog
from facebook_business.api import FacebookAdsApi, FacebookSession
from flask import Flask

from connector.sandbox.server import SandboxServer
from tests.conftest import WAIT_BOUND

CUSTOMER = "4915112345678"
T = TypeVar("T")


class ToSandbox(httpx.BaseTransport):
    """An httpx transport that carries every request (graph.facebook.com included) to the sandbox instead."""

    def __init__(self, base_url: str):
        self._base = httpx.URL(base_url)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self._base.scheme, host=self._base.host, port=self._base.port)
        request.headers["Host"] = self._base.netloc.decode()
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class Inbox:
    """What a client's webhook handlers received, with a wait that polls until a condition holds."""

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self._lock = threading.Condition()

    def add(self, _client: Any, update: Any) -> None:
        with self._lock:
            self.updates.append(update)
            self._lock.notify_all()

    def wait_for(self, match: Callable[[Any], bool], timeout: float = WAIT_BOUND) -> Any:
        """The first update ``match`` accepts; fails the test when none arrives within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for update in self.updates:
                    if match(update):
                        return update
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching update within {timeout}s; got {self.updates!r}")
                self._lock.wait(remaining)


def wait_until(read: Callable[[], T], ok: Callable[[T], bool], timeout: float = WAIT_BOUND) -> T:
    """Poll ``read()`` until ``ok`` holds for its value; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(0.02)


@pytest.fixture
def sandbox() -> Iterator[GraphSandbox]:
    with GraphSandbox(options={"webhook_concurrency": 1, "pair_limit": 10_000}) as running:
        yield running


@pytest.fixture
def settings(sandbox: GraphSandbox) -> dict[str, Any]:
    return sandbox.connection_settings()


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """Serve a client library's own Flask app on a free port; returns its URL."""
    servers: list[SandboxServer] = []

    def start(app: Flask) -> str:
        server = SandboxServer(app)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


PRODUCTS = ["shirt-1", "shirt-2"]


def _product(retailer_id: str) -> dict[str, Any]:
    return {
        "id": retailer_id,
        "item_group_id": retailer_id,
        "title": f"Linen shirt {retailer_id}",
        "description": "A light linen shirt.",
        "availability": "in stock",
        "condition": "new",
        "price": "49.90 EUR",
        "link": f"https://shop.example.com/p/{retailer_id}",
        "image_link": f"https://images.example.com/{retailer_id}.jpg",
        "brand": "Nordkind",
    }


@pytest.fixture
def fb_api(settings: dict[str, Any]) -> FacebookAdsApi:
    """facebook-business's API object with its base URL (``FacebookSession.GRAPH``) set to the sandbox."""
    session = FacebookSession(app_secret=settings["app_secret"], access_token=settings["access_token"])
    session.GRAPH = settings["graph_url"]
    return FacebookAdsApi(session, api_version=settings["api_version"])


@pytest.fixture
def catalog(sandbox: GraphSandbox, fb_api: FacebookAdsApi, settings: dict[str, Any]) -> ProductCatalog:
    """The demo catalog, filled through facebook-business's ``items_batch``."""
    found = ProductCatalog(settings["catalog_id"], api=fb_api)
    requests_ = [{"method": "UPDATE", "data": _product(pid)} for pid in PRODUCTS]
    answer = found.create_items_batch(params={"item_type": "PRODUCT_ITEM", "allow_upsert": True, "requests": requests_})
    handles = answer["handles"]
    assert handles
    wait_until(
        lambda: found.get_check_batch_request_status(params={"handle": handles[0]})[0]["status"],
        lambda status: status == "finished",
    )
    return found
