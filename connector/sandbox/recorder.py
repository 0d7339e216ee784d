"""A local endpoint that records the webhooks a sandbox sends, for adapter-level tests.

with WebhookRecorder() as recorder:
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    sandbox.set_stock(variant_id, 0)
    request = recorder.wait_for(1)[0]      # a connector.adapters.WebhookRequest
    adapter.verify_webhook(request)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask, request
from werkzeug.datastructures import Headers

from connector.adapters import WebhookRequest
from connector.sandbox.server import SandboxServer


class WebhookRecorder:
    """Answers every request with ``status`` (200 by default) and keeps it as a :class:`WebhookRequest`."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[WebhookRequest] = []
        self._lock = threading.Condition()
        app = Flask("webhook-recorder")

        @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT"])
        @app.route("/<path:path>", methods=["GET", "POST", "PUT"])
        def record(path: str):
            captured = WebhookRequest(
                method=request.method,
                url=request.url,
                headers=Headers(list(request.headers.items())),
                query=request.args.to_dict(),
                body=request.get_data(),
            )
            with self._lock:
                self.requests.append(captured)
                self._lock.notify_all()
            return "", self.status

        self._server = SandboxServer(app)

    @property
    def url(self) -> str:
        return self._server.url

    def wait_for(self, count: int, timeout: float = 120.0) -> list[WebhookRequest]:
        """Wait until at least ``count`` requests arrived; return all of them. Raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} webhooks, got {len(self.requests)}")
                self._lock.wait(remaining)
            return list(self.requests)

    def wait_until(self, done: Callable[[list[WebhookRequest]], bool], timeout: float = 120.0) -> list[WebhookRequest]:
        """Wait until ``done(requests)`` holds (checked now and after every request that arrives); return all of
        them. Raises ``TimeoutError``. Unlike "wait for one more than I counted", a request that arrived between
        a look and the wait is not missed."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not done(self.requests):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the webhooks awaited did not arrive ({len(self.requests)} arrived)")
                self._lock.wait(remaining)
            return list(self.requests)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def __enter__(self) -> WebhookRecorder:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
