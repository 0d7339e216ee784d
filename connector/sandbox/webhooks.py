"""Deliver signed webhooks from a sandbox to the connector, the way platforms do.

Deliveries go out from a background thread in the order they were queued. A delivery that fails
(connection refused, non-2xx) is retried a few times with a short backoff, like the real platforms
retry; every attempt is recorded so tests can assert what was sent and how it was answered.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str]
    attempts: list[int] = field(default_factory=list)  # HTTP status per attempt, 0 for a connection error

    @property
    def delivered(self) -> bool:
        return bool(self.attempts) and 200 <= self.attempts[-1] < 300


class WebhookSender:
    """Queue and deliver webhooks. ``max_attempts`` and ``backoff`` are kept small for tests and the demo."""

    def __init__(self, *, max_attempts: int = 4, backoff: float = 0.2, timeout: float = 10.0):
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()
        self._idle = threading.Event()
        self._idle.set()

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """Queue one delivery; it is sent in the background."""
        delivery = Delivery(url=url, body=body, headers=dict(headers))
        self.deliveries.append(delivery)
        self._idle.clear()
        self._queue.put(delivery)
        return delivery

    def deliver_now(self, url: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """Send one delivery synchronously (once, no retry); used to redeliver on purpose in tests."""
        delivery = Delivery(url=url, body=body, headers=dict(headers))
        self.deliveries.append(delivery)
        self._attempt(delivery)
        return delivery

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted to the end."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)

    def _attempt(self, delivery: Delivery) -> None:
        try:
            response = self._session.post(
                delivery.url, data=delivery.body, headers=delivery.headers, timeout=self.timeout
            )
            delivery.attempts.append(response.status_code)
        except requests.RequestException as exc:
            log.debug("webhook to %s failed: %s", delivery.url, exc)
            delivery.attempts.append(0)

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            for attempt in range(self.max_attempts):
                self._attempt(delivery)
                if delivery.delivered or 400 <= delivery.attempts[-1] < 500:
                    break
                time.sleep(self.backoff * (2**attempt))
            if self._queue.empty():
                self._idle.set()
