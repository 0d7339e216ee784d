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
from flask import Flask

from connector.sandbox.server import SandboxServer

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

    def wait_for(self, match: Callable[[Any], bool], timeout: float = 15.0) -> Any:
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


def wait_until(read: Callable[[], T], ok: Callable[[T], bool], timeout: float = 15.0) -> T:
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
