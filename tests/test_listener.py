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


def test_the_listener_does_not_poll_for_output_a_request_thread_is_writing(server: EmbeddedServer) -> None:
    """Waitress's own channel made the listener spin (holding the GIL) while a request thread held a connection's
    output lock: ~8 ms of CPU per webhook. The listener's channel polls for writability only when it can write."""
    from connector.listener import QuietChannel

    ours, theirs = socket.socketpair()
    try:
        assert server.http.channel_class is QuietChannel  # what `connector serve` accepts connections with
        channel = QuietChannel(server.http, ours, ("127.0.0.1", 0), server.http.adj, map={})
        assert not channel.writable()  # nothing to send
        channel.total_outbufs_len = 10
        assert channel.writable()  # output and no request thread: the listener sends it
        channel.requests = [object()]
        assert channel.writable()  # a request thread runs but does not hold the lock: the listener may send
        held, release = threading.Event(), threading.Event()

        def writer() -> None:  # a request thread in the middle of writing its answer
            with channel.outbuf_lock:
                held.set()
                release.wait(30)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert held.wait(30)
            assert not channel.writable()
        finally:
            release.set()
            thread.join()
        assert channel.writable()
        channel.will_close = True
        assert channel.writable()  # closing always gets the listener's attention
    finally:
        ours.close()
        theirs.close()
