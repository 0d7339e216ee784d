"""The heartbeat of a worker process: it renews the leases of the tasks the process holds, every few seconds.

A task's lease is short (``[worker] lease_seconds``, a few heartbeats) and lasts exactly as long as the process
that claimed it keeps beating. So a task whose lease ran out was claimed by a process that is gone (killed, frozen,
cut off from the database for ``lease_seconds``), never by one that is merely slow: a send that takes a minute on a
loaded machine keeps its task, and a process killed with ``kill -9`` frees its tasks within seconds.

The heartbeat thread runs only while the process holds a task, so a runtime that claims nothing starts none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: ``renew({task_id: worker})``: extend the leases of those tasks, each only while that worker still holds it.
Renew = Callable[[dict[int, str]], None]


class Heartbeat:
    """Renews the leases of the tasks this process holds, every ``interval`` seconds, while it holds any."""

    def __init__(self, renew: Renew, interval: float):
        self.interval = interval
        self._renew = renew
        self._held: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, task_id: int, worker: str) -> None:
        """``worker`` (a thread of this process) claimed ``task_id``: keep its lease alive until :meth:`release`."""
        with self._lock:
            self._held[task_id] = worker
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
                self._thread.start()

    def release(self, task_id: int) -> None:
        """The task finished, went back to the queue or failed: its lease is no longer ours to keep."""
        with self._lock:
            self._held.pop(task_id, None)

    def held(self) -> dict[int, str]:
        """The tasks this process holds now (task id -> worker)."""
        with self._lock:
            return dict(self._held)

    def stop(self) -> None:
        """Stop beating (the process shuts down; its leases run out unless its tasks finish first)."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                held = dict(self._held)
                if not held:
                    self._thread = None  # the next hold starts a new thread
                    return
            try:
                self._renew(held)
            except Exception:  # the database went away for a moment: the next beat tries again
                log.exception("renewing the leases of %s held tasks failed", len(held))
        with self._lock:
            self._thread = None
