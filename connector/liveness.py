"""Heartbeats of the background processes and the readiness checks behind ``/readyz``.

A worker (embedded thread pool or Celery worker) and a scheduler (the leader, in a cluster) each run a
:class:`Heartbeat` that upserts one ``process_heartbeats`` row every ``HEARTBEAT_SECONDS`` and deletes it
on a clean stop. :func:`readiness` then answers "would work get done if a request came in now?":
the database schema is at the Alembic head, some worker beat recently, and a scheduler beat recently.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from connector.db.models_liveness import ProcessHeartbeat

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

#: Seconds between two beats of one process; ``[server] ready_heartbeat_max_age_seconds`` should be a few times this.
HEARTBEAT_SECONDS = 10.0


class Heartbeat:
    """A daemon thread keeping this process's ``role`` row fresh until :meth:`stop`."""

    def __init__(self, runtime: Runtime, role: str, *, interval: float = HEARTBEAT_SECONDS):
        self.runtime = runtime
        self.role = role
        self.interval = interval
        self.id = f"{role}:{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Record that this process is alive now."""
        now = datetime.now(UTC)
        with self.runtime.db.session() as session:
            row = session.get(ProcessHeartbeat, self.id)
            if row is None:
                session.add(ProcessHeartbeat(id=self.id, role=self.role, started_at=now, beat_at=now))
            else:
                row.beat_at = now
            session.commit()

    def start(self) -> None:
        """Beat once now (so readiness is immediate), then every ``interval`` seconds in the background."""
        self._safe_beat()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{self.role}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove this process's row (a stopped process is not a live one)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
            self._thread = None
        try:
            with self.runtime.db.session() as session:
                session.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.id == self.id))
                session.commit()
        except Exception:  # the row ages out anyway
            log.warning("removing the %s heartbeat failed", self.role, exc_info=True)

    def _safe_beat(self) -> None:
        try:
            self.beat()
        except Exception:  # the database went away for a moment: the next beat may succeed; readiness shows it
            log.warning("%s heartbeat failed", self.role, exc_info=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._safe_beat()


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, and a short human reason."""

    name: str
    ok: bool
    detail: str


def _schema_check(runtime: Runtime) -> Check:
    from connector.db.migrate import current_revisions, head_revisions

    current, heads = current_revisions(runtime.db), head_revisions(runtime.db)
    if current == heads:
        return Check("database", True, f"schema at {', '.join(sorted(heads))}")
    applied = ", ".join(sorted(current)) or "none"
    return Check(
        "database", False, f"schema at {applied}, expected {', '.join(sorted(heads))} (run `connector migrate`)"
    )


def _heartbeat_check(runtime: Runtime, role: str, max_age: float) -> Check:
    with runtime.db.session() as session:
        last = session.scalar(select(func.max(ProcessHeartbeat.beat_at)).where(ProcessHeartbeat.role == role))
    if last is None:
        return Check(role, False, f"no {role} has reported (is one running?)")
    if last.tzinfo is None:  # SQLite gives naive UTC back through raw aggregates
        last = last.replace(tzinfo=UTC)
    age = (datetime.now(UTC) - last).total_seconds()
    if age > max_age:
        return Check(role, False, f"last {role} heartbeat {age:.0f} s ago (more than {max_age:.0f} s)")
    return Check(role, True, f"last {role} heartbeat {age:.0f} s ago")


def readiness(runtime: Runtime) -> list[Check]:
    """Every readiness check, in a stable order; a check that raises fails with the error as its reason."""
    max_age = runtime.config.server.ready_heartbeat_max_age_seconds
    checks: list[Check] = []
    for name, run in (
        ("database", lambda: _schema_check(runtime)),
        ("worker", lambda: _heartbeat_check(runtime, "worker", max_age)),
        ("scheduler", lambda: _heartbeat_check(runtime, "scheduler", max_age)),
    ):
        try:
            checks.append(run())
        except Exception as exc:  # a database that does not answer is a failed check, not a 500
            checks.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
    return checks


__all__ = ["HEARTBEAT_SECONDS", "Check", "Heartbeat", "readiness"]
