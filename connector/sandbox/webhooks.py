"""Deliver signed webhooks from a sandbox to the connector, the way platforms do.

Deliveries go out from background threads: one by default, in the order they were queued; with
``concurrency`` above one, that many at once and so in no guaranteed order, as Meta delivers
("at-least-once and unordered"). A delivery that fails (connection refused, non-2xx) is retried a
few times with a short backoff, like the real platforms retry; every attempt is recorded so tests can
assert what was sent and how it was answered.
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
    """Queue and deliver webhooks. ``max_attempts`` and ``backoff`` are kept small for tests and the demo;
    ``concurrency`` deliveries are in flight at once (changeable live with :meth:`set_concurrency`)."""

    def __init__(self, *, max_attempts: int = 4, backoff: float = 0.2, timeout: float = 10.0, concurrency: int = 1):
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._sessions = threading.local()  # one requests.Session per delivering thread
        self._lock = threading.Condition()
        self._in_flight = 0  # concurrent lane: being delivered
        self._waiting = 0  # concurrent lane: queued, not taken yet
        self._outstanding = 0  # both lanes: queued or in flight
        #: The ordered lane: deliveries that must arrive one after the other (Messenger's message events).
        self._ordered: queue.Queue[Delivery | None] = queue.Queue()
        self._ordered_thread = threading.Thread(target=self._run_ordered, name="sandbox-webhooks-ordered", daemon=True)
        self._ordered_thread.start()
        self._concurrency = 1
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._idle = threading.Event()
        self._idle.set()
        self.set_concurrency(concurrency)

    @property
    def concurrency(self) -> int:
        return self._concurrency

    def set_concurrency(self, concurrency: int) -> None:
        """Deliver up to ``concurrency`` webhooks at once from now on (threads beyond it stand by)."""
        with self._lock:
            self._concurrency = max(1, int(concurrency))
            while len(self._threads) < self._concurrency:
                index = len(self._threads)
                thread = threading.Thread(
                    target=self._run, args=(index,), name=f"sandbox-webhooks-{index}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._lock.notify_all()

    def send(self, url: str, body: bytes, headers: Mapping[str, str], *, ordered: bool = False) -> Delivery:
        """Queue one delivery; it is sent in the background. ``ordered`` ones go out one after the other whatever
        the concurrency (a platform that promises order for them)."""
        delivery = Delivery(url=url, body=body, headers=dict(headers))
        self.deliveries.append(delivery)
        with self._lock:
            self._outstanding += 1
            self._idle.clear()
            if ordered:
                self._ordered.put(delivery)
            else:
                self._waiting += 1
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

    def wait_slot(self, timeout: float = 10.0) -> bool:
        """Block until nothing waits in the (unordered) queue and fewer than ``concurrency`` deliveries are in
        flight: a delivery built now goes out at once (a sender that folds waiting events into one uses this)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._waiting == 0 and self._in_flight < self._concurrency, timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()  # threads standing by beyond the concurrency end too
        for _ in self._threads:
            self._queue.put(None)
        self._ordered.put(None)

    def _attempt(self, delivery: Delivery) -> None:
        try:
            session = getattr(self._sessions, "session", None)
            if session is None:
                session = self._sessions.session = requests.Session()
            response = session.post(delivery.url, data=delivery.body, headers=delivery.headers, timeout=self.timeout)
            delivery.attempts.append(response.status_code)
        except requests.RequestException as exc:
            log.debug("webhook to %s failed: %s", delivery.url, exc)
            delivery.attempts.append(0)

    def _run(self, index: int) -> None:
        while True:
            with self._lock:  # a thread beyond the current concurrency stands by
                self._lock.wait_for(lambda: index < self._concurrency or self._closed)
                if self._closed and index >= self._concurrency:
                    return
            delivery = self._queue.get()
            if delivery is None:
                return
            with self._lock:
                self._waiting -= 1
                self._in_flight += 1
                self._lock.notify_all()  # a slot-waiter may build the next delivery now
            try:
                self._deliver(delivery)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._done()

    def _run_ordered(self) -> None:
        while True:
            delivery = self._ordered.get()
            if delivery is None:
                return
            try:
                self._deliver(delivery)
            finally:
                with self._lock:
                    self._done()

    def _deliver(self, delivery: Delivery) -> None:
        for attempt in range(self.max_attempts):
            self._attempt(delivery)
            if delivery.delivered or 400 <= delivery.attempts[-1] < 500:
                break
            time.sleep(self.backoff * (2**attempt))

    def _done(self) -> None:
        """One delivery attempted to the end (the caller holds the lock)."""
        self._outstanding -= 1
        if self._outstanding == 0:
            self._idle.set()
        self._lock.notify_all()
