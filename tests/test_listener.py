"""The embedded web listener (``connector serve``): many idle connections, idle timeouts, and a dead listener."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from waitress import wasyncore

from connector.runtime import Runtime
from connector.server import EmbeddedServer
from tests.conftest import wait_for


@pytest.fixture
def server(runtime: Runtime) -> Iterator[EmbeddedServer]:
    embedded = EmbeddedServer(runtime, port=0, scheduler=False, worker=False)
    embedded.start()
    yield embedded
    embedded.stop()


def _health(url: str) -> int | None:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code
    except requests.RequestException:
        return None


def test_1100_idle_connections_held_then_closed_leave_the_listener_answering(server: EmbeddedServer) -> None:
    address = (server.http.effective_host, server.http.effective_port)
    held: list[socket.socket] = []
    try:
        for _ in range(1100):
            held.append(socket.create_connection(address, timeout=10))
        # Accepted after the 1,100 (the listener takes them in order, which takes a few seconds on a busy machine),
        # answered while they are all open.
        assert wait_for(lambda: _health(server.url) == 200, timeout=60)
    finally:
        for sock in held:
            sock.close()
    assert wait_for(lambda: _health(server.url) == 200, timeout=60)
    assert not server.listener_died.is_set()


def test_an_idle_connection_is_closed_after_the_idle_timeout(runtime: Runtime) -> None:
    runtime.config.server.idle_timeout_seconds = 1
    embedded = EmbeddedServer(runtime, port=0, scheduler=False, worker=False)
    embedded.start()
    try:
        sock = socket.create_connection((embedded.http.effective_host, embedded.http.effective_port), timeout=30)
        # The server closes it: recv returns b"" (end of stream) well before the 30 s client timeout.
        assert sock.recv(1) == b""
        sock.close()
    finally:
        embedded.stop()


class _Unpollable(wasyncore.dispatcher):
    """A channel the event loop cannot ask whether it is readable: stands for any bug that ends the loop."""

    def readable(self) -> bool:
        raise RuntimeError("a bug in the event loop")


def test_a_dead_listener_ends_serve_with_a_failure_status(server: EmbeddedServer) -> None:
    assert _health(server.url) == 200
    left, right = socket.socketpair()
    try:
        server.http.trigger.pull_trigger(lambda: _Unpollable(left, map=server.http._map))
        give_up = threading.Event()
        timer = threading.Timer(30, give_up.set)
        timer.start()
        try:
            # What `connector serve` waits on: 1 (its exit status) as soon as the listener is gone.
            assert server.wait(give_up, poll_seconds=0.05) == 1
        finally:
            timer.cancel()
        assert _health(server.url) is None
    finally:
        right.close()
