"""Request body limits per route over real HTTP: refused with 413 and a reason before the body is read."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, select

from connector.db.models import WebhookEvent
from connector.runtime import Runtime
from connector.server import EmbeddedServer

MB = 1024 * 1024


@pytest.fixture
def server(runtime: Runtime) -> Iterator[EmbeddedServer]:
    embedded = EmbeddedServer(runtime, port=0, scheduler=False, worker=False)
    embedded.start()
    yield embedded
    embedded.stop()


def _response_head(sock: socket.socket) -> bytes:
    """What the server answered, read until it closed the connection or sent a whole small response."""
    sock.settimeout(20)
    data = b""
    while b"\r\n\r\n" not in data or len(data) < 200:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _webhooks_stored(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


def test_a_declared_50_mb_webhook_is_refused_before_its_body_is_sent(server: EmbeddedServer, runtime: Runtime) -> None:
    sock = socket.create_connection((server.http.effective_host, server.http.effective_port), timeout=20)
    try:
        # Only the head: an answer arriving now proves nothing of the body was waited for (or buffered).
        sock.sendall(
            b"POST /webhooks/shopify/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Shopify-Topic: products/update\r\nContent-Length: %d\r\n\r\n" % (50 * MB)
        )
        answer = _response_head(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"5242880" in answer  # the reason names the limit
    assert _webhooks_stored(runtime) == 0


def test_a_chunked_webhook_body_is_cut_off_once_it_passes_the_limit(server: EmbeddedServer) -> None:
    sock = socket.create_connection((server.http.effective_host, server.http.effective_port), timeout=20)
    chunk = b"x" * 65536
    sent = 0
    try:
        sock.sendall(b"POST /webhooks/shopify/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < 50 * MB:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what is asserted below
        answer = _response_head(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 50 * MB


def test_each_route_has_its_own_limit(server: EmbeddedServer, runtime: Runtime) -> None:
    two_mb = b"{" + b" " * (2 * MB) + b"}"
    api = requests.post(
        f"{server.url}/api/v1/connections/shops",
        data=two_mb,
        headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
        timeout=30,
    )
    assert api.status_code == 413
    assert str(runtime.config.server.max_api_body_bytes) in api.json()["error"]
    form = requests.post(f"{server.url}/dashboard/login", data={"password": "x" * MB}, timeout=30)
    assert form.status_code == 413
    assert "at most" in form.json()["error"]
    # The same 2 MB is fine for a webhook: it gets as far as the signature check of a (missing) connection.
    hook = requests.post(
        f"{server.url}/webhooks/shopify/999", data=two_mb, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert hook.status_code == 404
    assert "no shop connection 999" in hook.json()["error"]


def test_the_limits_are_settings(runtime: Runtime) -> None:
    runtime.config.server.max_webhook_body_bytes = 64 * 1024
    embedded = EmbeddedServer(runtime, port=0, scheduler=False, worker=False)
    embedded.start()
    try:
        hook = requests.post(
            f"{embedded.url}/webhooks/shopify/999",
            data=b"{" + b" " * (100 * 1024) + b"}",
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    finally:
        embedded.stop()
    assert hook.status_code == 413
    assert "65536" in hook.json()["error"]
