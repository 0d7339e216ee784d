"""Fixtures: one Graph sandbox per module, adapters configured for it, and a webhook receiver that runs
the adapters' handshake / verify / parse the way the core's webhook endpoint does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from connector_messenger.adapter import InstagramAdapter, MessengerAdapter, MetaMessagingAdapter
from connector_meta.sandbox import GraphSandbox
from flask import Flask, request
from werkzeug.datastructures import Headers

from connector.adapters import ParsedWebhook, WebhookRequest
from connector.errors import WebhookRejected
from connector.sandbox.server import SandboxServer
from tests.conftest import WAIT_BOUND


def adapter_settings(sandbox: GraphSandbox, channel: str) -> dict[str, Any]:
    """The settings an owner would enter for the sandbox's demo Page / Instagram account."""
    s = sandbox.connection_settings()
    settings = {
        "page_access_token": s["access_token"],
        "app_secret": s["app_secret"],
        "verify_token": s["verify_token"],
        "catalog_id": s["catalog_id"],
        "graph_url": s["graph_url"],
        "api_version": s["api_version"],
    }
    if channel == "messenger":
        return {"page_id": s["page_id"], **settings}
    return {"instagram_account_id": s["instagram_account_id"], **settings}


class Receiver:
    """A stand-in for the core's ``/webhooks/<adapter>/<id>`` endpoint: handshake, verify, parse, 200."""

    def __init__(self, adapters: dict[str, MetaMessagingAdapter]):
        self.adapters = adapters
        self.parsed: list[ParsedWebhook] = []
        self.rejected: list[WebhookRejected] = []
        self._cond = threading.Condition()
        app = Flask("receiver")

        @app.route("/webhooks/<name>", methods=["GET", "POST"])
        def hook(name: str):
            adapter = self.adapters[name]
            captured = WebhookRequest(
                method=request.method,
                url=request.url,
                headers=Headers(list(request.headers.items())),
                query=request.args.to_dict(),
                body=request.get_data(),
            )
            reply = adapter.handshake(captured)
            if reply is not None:
                return reply.body, reply.status, {"Content-Type": reply.content_type}
            try:
                adapter.verify_webhook(captured)
                parsed = adapter.parse_webhook(captured)
            except WebhookRejected as exc:
                with self._cond:
                    self.rejected.append(exc)
                return exc.reason, exc.status
            with self._cond:
                self.parsed.append(parsed)
                self._cond.notify_all()
            return "", 200

        self.server = SandboxServer(app)

    def url(self, name: str) -> str:
        return f"{self.server.url}/webhooks/{name}"

    def events(self, count: int, timeout: float = WAIT_BOUND) -> list[Any]:
        """Wait for at least ``count`` parsed events; return all of them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(len(p.events) for p in self.parsed) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} events, got {self.parsed}")
                self._cond.wait(remaining)
            return [e for p in self.parsed for e in p.events]

    def clear(self) -> None:
        with self._cond:
            self.parsed.clear()
            self.rejected.clear()


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphSandbox]:
    with GraphSandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "graph" in request.fixturenames:
        request.getfixturevalue("graph").reset()


@pytest.fixture
def settings(graph: GraphSandbox):
    """``settings(channel, **overrides)``: validated settings for the sandbox's demo Page / account."""

    def make(channel: str, **overrides: Any) -> dict[str, Any]:
        values = {**adapter_settings(graph, channel), **overrides}
        adapter = MessengerAdapter if channel == "messenger" else InstagramAdapter
        return adapter.validate_settings(values)

    return make


@pytest.fixture
def messenger(graph: GraphSandbox) -> MessengerAdapter:
    return MessengerAdapter(MessengerAdapter.validate_settings(adapter_settings(graph, "messenger")))


@pytest.fixture
def instagram(graph: GraphSandbox) -> InstagramAdapter:
    return InstagramAdapter(InstagramAdapter.validate_settings(adapter_settings(graph, "instagram")))


@pytest.fixture(scope="module")
def receiver(graph: GraphSandbox) -> Iterator[Receiver]:
    adapters: dict[str, MetaMessagingAdapter] = {
        "messenger": MessengerAdapter(adapter_settings(graph, "messenger")),
        "instagram": InstagramAdapter(adapter_settings(graph, "instagram")),
    }
    receiver = Receiver(adapters)
    receiver.server.start()
    verify = graph.connection_settings()["verify_token"]
    # Subscribing runs Meta's GET handshake against the adapters first.
    graph.subscribe_webhooks(receiver.url("messenger"), object="page", verify_token=verify)
    graph.subscribe_webhooks(receiver.url("instagram"), object="instagram", verify_token=verify)
    yield receiver
    receiver.server.stop()


@pytest.fixture
def inbox(receiver: Receiver) -> Receiver:
    receiver.clear()
    return receiver
