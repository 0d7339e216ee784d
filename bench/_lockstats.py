"""How long each kind of transaction holds the database's write lock: wall time and the holding thread's CPU.

On SQLite every transaction starts with ``BEGIN IMMEDIATE`` (:mod:`connector.db`), so a transaction's time from its
``begin`` to its ``commit``/``rollback`` is time the one write lock is held. :func:`attach` adds listeners after the
connector's own (SQLAlchemy runs them in order: the lock is taken before ``begin`` reaches us, and the commit, with
its disk sync, is done before ``commit`` reaches us) and labels each transaction with the innermost connector
function that opened it. Wall time much larger than CPU time means the holder waited for a core (or the disk)
while everybody else waited for it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class LockStats:
    """Per label: transactions, seconds held (wall), seconds of the holder's CPU."""

    def __init__(self) -> None:
        self.held: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self._open: dict[int, tuple[float, float, str]] = {}
        self._lock = threading.Lock()

    def raw(self) -> dict[str, list[float]]:
        """``label -> [transactions, wall seconds, CPU seconds]`` so far."""
        with self._lock:
            return {label: list(values) for label, values in self.held.items()}


def summary(raw: dict[str, list[float]], messages: int) -> dict[str, Any]:
    """Totals and the labels by wall time held (of :meth:`LockStats.raw`), with per-message figures (ms)."""
    items = sorted(raw.items(), key=lambda kv: -kv[1][1])
    wall = sum(v[1] for _, v in items)
    cpu = sum(v[2] for _, v in items)
    return {
        "transactions": int(sum(v[0] for _, v in items)),
        "held_seconds": round(wall, 2),
        "held_cpu_seconds": round(cpu, 2),
        "held_ms_per_message": round(1000 * wall / max(1, messages), 3),
        "held_cpu_ms_per_message": round(1000 * cpu / max(1, messages), 3),
        "by_function": {
            label: {"transactions": int(n), "held_seconds": round(w, 2), "cpu_seconds": round(c, 2)}
            for label, (n, w, c) in items[:10]
        },
    }


def _label() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "/connector/" in name and "/connector/db/" not in name:
            return f"{name.rsplit('/connector/', 1)[1]}:{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "other"


def attach(engine: Engine) -> LockStats:
    """Count the write-lock holds of ``engine``'s transactions from now on."""
    stats = LockStats()

    @event.listens_for(engine, "begin")
    def _begun(conn: Any) -> None:
        stats._open[id(conn)] = (time.perf_counter(), time.thread_time(), _label())

    def _ended(conn: Any) -> None:
        opened = stats._open.pop(id(conn), None)
        if opened is None:
            return
        with stats._lock:
            entry = stats.held[opened[2]]
            entry[0] += 1
            entry[1] += time.perf_counter() - opened[0]
            entry[2] += time.thread_time() - opened[1]

    event.listen(engine, "commit", _ended)
    event.listen(engine, "rollback", _ended)
    return stats
