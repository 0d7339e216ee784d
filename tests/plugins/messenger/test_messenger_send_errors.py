"""Send API errors the Graph sandbox has no switch for (5xx, rate limits, blocked users, bad parameters),
served over real HTTP by a scripted stand-in that answers with Meta's documented error bodies."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from connector_messenger.adapter import MessengerAdapter
from flask import Flask, jsonify

from connector import model
from connector.errors import SendAction, SendError
from connector.sandbox.server import SandboxServer

PAGE_ID = "100841475479486"


class ScriptedGraph:
    """Answers ``POST /v25.0/{page}/messages`` with the queued (status, body) answers, then with success."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.calls = 0
        self._lock = threading.Lock()
        app = Flask("scripted-graph")

        @app.post("/v25.0/<node>/messages")
        def messages(node: str):
            with self._lock:
                self.calls += 1
                status, body = (
                    self.answers.pop(0) if self.answers else (200, {"recipient_id": "1", "message_id": "m_ok"})
                )
            return jsonify(body), status

        self.server = SandboxServer(app)


def meta_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "AbCdEf"
    return {"error": error}


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedGraph]:
    graph = ScriptedGraph()
    graph.server.start()
    yield graph
    graph.server.stop()


@pytest.fixture
def adapter(scripted: ScriptedGraph) -> MessengerAdapter:
    scripted.answers.clear()
    scripted.calls = 0
    return MessengerAdapter(
        {
            "page_id": PAGE_ID,
            "page_access_token": "token",
            "app_secret": "s",
            "verify_token": "v",
            "graph_url": scripted.server.url,
            "api_version": "v25.0",
        }
    )


def send(adapter: MessengerAdapter) -> model.SendResult:
    return adapter.send(model.Contact("messenger", "2487"), model.TextMessage("hello"))


@pytest.mark.parametrize(
    "status, body, action, code",
    [
        (500, meta_error(2, "An unexpected error has occurred. Please retry your request later."), SendAction.RETRY, 2),
        (503, {"error": "upstream down"}, SendAction.RETRY, None),
        (400, meta_error(1200, "Temporary send message failure. Please try again later"), SendAction.RETRY, 1200),
        (400, meta_error(613, "Calls to this api have exceeded the rate limit."), SendAction.RETRY_LATER, 613),
        (400, meta_error(551, "This person isn't available right now."), SendAction.UNDELIVERABLE, 551),
        (400, meta_error(100, "No matching user found", 2018001), SendAction.UNDELIVERABLE, "100/2018001"),
        (400, meta_error(100, "Invalid parameter"), SendAction.BUG, 100),
        (401, meta_error(190, "Invalid OAuth access token."), SendAction.CONFIG, 190),
        (400, meta_error(200, "Requires pages_messaging permission to manage the object"), SendAction.CONFIG, 200),
        (
            400,
            meta_error(10, "This message is sent outside of allowed window.", 2018278),
            SendAction.UNDELIVERABLE,
            "10/2018278",
        ),
    ],
)
def test_send_api_errors_map_to_actions(adapter, scripted, status, body, action, code) -> None:
    scripted.answers.append((status, body))
    with pytest.raises(SendError) as error:
        send(adapter)
    assert error.value.action is action
    assert error.value.code == code
    assert error.value.retryable is (action in (SendAction.RETRY, SendAction.RETRY_LATER))
    # A POST is never repeated by the client on 5xx: the message might have gone out; the core decides.
    assert scripted.calls == 1


def test_http_429_is_retried_with_backoff_then_succeeds(adapter, scripted) -> None:
    scripted.answers.append((429, meta_error(4, "Application request limit reached")))
    assert send(adapter).message_id == "m_ok"
    assert scripted.calls == 2


def test_persistent_throttling_is_retry_later(adapter, scripted) -> None:
    scripted.answers.extend([(429, meta_error(4, "Application request limit reached"))] * 5)
    with pytest.raises(SendError) as error:
        send(adapter)
    assert error.value.action is SendAction.RETRY_LATER


def test_unreachable_graph_is_retry() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    adapter = MessengerAdapter(
        {
            "page_id": PAGE_ID,
            "page_access_token": "t",
            "app_secret": "s",
            "verify_token": "v",
            "graph_url": f"http://127.0.0.1:{port}",
        }
    )
    with pytest.raises(SendError) as error:
        send(adapter)
    assert error.value.action is SendAction.RETRY


def test_answer_without_message_id_is_a_bug(adapter, scripted) -> None:
    scripted.answers.append((200, {"recipient_id": "2487"}))
    with pytest.raises(SendError) as error:
        send(adapter)
    assert error.value.action is SendAction.BUG
