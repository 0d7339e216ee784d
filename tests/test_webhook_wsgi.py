"""Deliveries answered in front of Flask (:mod:`connector.webhooks.wsgi`) get the answers and headers the Flask view
gives; what that path leaves to Flask (a chunked body) is answered the same way."""

from __future__ import annotations

import json
import re

import pytest
import requests
from sqlalchemy import func, select

from connector import safejson
from connector.db.models import Task, WebhookEvent
from connector.runtime import Runtime
from connector.web.headers import SECURITY_HEADERS
from connector.webhooks.wsgi import RequestHeaders
from connector.work import priorities
from tests.conftest import Stack, wait_for


def _stored(stack: Stack) -> list[WebhookEvent]:
    with stack.runtime.db.session() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def test_a_delivery_and_its_redelivery_in_chunks_get_the_same_answers_and_headers(stack: Stack) -> None:
    stack.full_sync()
    stack.shop.set_stock(stack.shop.variant_ids()[0], 4)
    [event] = wait_for(lambda: _stored(stack))
    sent = {k: v for k, v in event.headers.items() if k.lower() not in ("host", "content-length")}

    # With a Content-Length: the WSGI path. The same bytes in chunks: Flask's view (it applies the body limit).
    direct = requests.post(event.url, data=event.body, headers={**sent, "X-Request-ID": "hook-1"}, timeout=10)
    chunked = requests.post(event.url, data=iter([event.body[:10], event.body[10:]]), headers=sent, timeout=10)
    for answer in (direct, chunked):
        assert answer.status_code == 200
        assert answer.json() == {"status": "duplicate", "id": event.id}
        assert answer.headers["Content-Type"] == "application/json"
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value
    assert direct.headers["X-Request-ID"] == "hook-1"
    assert re.fullmatch(r"[0-9a-f]{32}", chunked.headers["X-Request-ID"])
    [again] = _stored(stack)
    assert again.duplicates == 2

    forged = requests.post(event.url, data=event.body + b" ", headers=sent, timeout=10)
    assert forged.status_code == 401
    assert "signature" in forged.json()["error"].lower()
    assert forged.headers["X-Frame-Options"] == "DENY"


def test_a_body_shorter_than_its_content_length_is_refused_with_a_reason(stack: Stack) -> None:
    import socket

    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /webhooks/woocommerce/{stack.shop_id} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n".encode()
            + b"{}"
        )
        sock.shutdown(socket.SHUT_WR)  # the sender went away after 2 of 100 bytes
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    # waitress itself answers an incomplete body (400) or drops the connection; never a 200, nothing stored
    assert not answer.startswith(b"HTTP/1.1 200")
    assert _stored(stack) == []


def test_request_headers_are_found_whatever_their_case() -> None:
    headers = RequestHeaders.from_environ(
        {
            "HTTP_X_HUB_SIGNATURE_256": "sha256=ab",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "",
            "wsgi.input": None,
        }
    )
    assert dict(headers.items()) == {"X-Hub-Signature-256": "sha256=ab", "Content-Type": "application/json"}
    assert headers["x-hub-signature-256"] == headers.get("X-HUB-SIGNATURE-256") == "sha256=ab"
    assert "content-type" in headers and "Content-Length" not in headers
    assert headers.get("X-Missing") is None


@pytest.mark.parametrize(
    "document",
    [
        b'{"a": [1, {"b": "x\\"]]]]"}], "c": null}',
        b'["\\ud800", "\\udc00x", "\\ud83d\\ude00"]',
        b"[" * 64 + b"]" * 64,
        b'{"deep": "' + b"[" * 100 + b'"}',
        '["\\u00e4", "\\ud800"]'.encode("utf-16"),
        b'"plain"',
    ],
)
def test_json_without_a_walk_is_what_walking_gives(document: bytes) -> None:
    # The fast path skips walking a document the bytes show needs nothing replaced; the result is the same.
    assert safejson.loads(document) == safejson._clean(json.loads(document), safejson.MAX_DEPTH)


def test_lone_surrogates_are_still_replaced() -> None:
    assert safejson.loads(b'["\\ud800", "\\udc00x", "\\ud83d\\ude00"]') == ["\ufffd", "\ufffdx", "\U0001f600"]
    assert safejson.loads(b'{"\\uDBFF": 1}') == {"\ufffd": 1}


def test_json_nested_too_deep_is_refused_whichever_way_it_is_found() -> None:
    for depth in (65, 200):
        with pytest.raises(safejson.UnsafeJSON):
            safejson.loads(b"[" * depth + b"]" * depth)
    with pytest.raises(safejson.UnsafeJSON):
        safejson.loads(b'{"a":' * 65 + b"1" + b"}" * 65)
    # Many brackets side by side are not deep.
    assert len(safejson.loads(b"[" + b",".join([b"[[1]]"] * 500) + b"]")) == 500


def test_tasks_queued_together_keep_their_order_and_priority(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        ids = runtime.queue.enqueue_many(
            "webhook.process", [{"event_id": n} for n in range(5)], session=session, priority=priorities.CHAT
        )
        assert runtime.queue.enqueue_many("webhook.process", [], session=session) == []
    assert ids == sorted(ids) and len(set(ids)) == 5
    with runtime.db.session() as session:
        rows = session.execute(select(Task.id, Task.args, Task.priority, Task.status).order_by(Task.id)).all()
        assert [(r.id, r.args, r.priority, r.status) for r in rows] == [
            (task_id, {"event_id": n}, priorities.CHAT, "pending") for n, task_id in enumerate(ids)
        ]
        assert session.scalar(select(func.count()).select_from(Task)) == 5
