"""Leader election for ``connector scheduler``: a PostgreSQL advisory lock held on a dedicated connection.

APScheduler 3 must have exactly one scheduler per job store, so every ``connector scheduler`` process
tries ``pg_try_advisory_lock(leader_lock_id)`` every ``leader_poll_seconds``; the one that gets it runs
the scheduler (and a relay), the others wait as standbys. PostgreSQL releases the lock the moment the
leader's connection ends: a crashed or killed leader is replaced within one poll. TCP keepalives on
that connection make the server notice a leader whose machine vanished (no FIN) within ~15 s, and the
leader checks its connection every poll and steps down at once if it broke, so two leaders never
schedule at the same time for longer than one poll. Even then a tick is enqueued once: ``job_runs`` is
unique per ``(job_id, scheduled_for)``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


class AdvisoryLock:
    """A session-level advisory lock on its own connection (released when that connection closes)."""

    def __init__(self, url: str, lock_id: int):
        self.lock_id = lock_id
        self._engine = create_engine(url, poolclass=NullPool, connect_args=_KEEPALIVES)
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks."""
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = bool(self._conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.lock_id}))
        if not got:
            self._close()
        return got

    def held(self) -> bool:
        """Whether this connection still holds the lock (False if the connection broke)."""
        if self._conn is None:
            return False
        try:
            count = self._conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND granted AND ((classid::bigint << 32) | objid::bigint) = :k"
                ),
                {"k": self.lock_id},
            )
        except Exception:  # the connection is gone, and the lock with it
            log.exception("lost the leader connection")
            self._close()
            return False
        return bool(count)

    def release(self) -> None:
        """Give the lock up (closing the connection releases it too)."""
        if self._conn is not None:
            try:
                self._conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": self.lock_id})
            except Exception:  # closing below releases it anyway
                log.debug("advisory unlock failed", exc_info=True)
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken
                log.debug("closing the lock connection failed", exc_info=True)
            self._conn = None

    def dispose(self) -> None:
        """Release and drop the engine."""
        self.release()
        self._engine.dispose()


def lead_when_elected(
    lock: AdvisoryLock,
    *,
    poll_seconds: float,
    start: Callable[[], None],
    stop: Callable[[], None],
    shutdown: threading.Event,
    on_change: Callable[[str, datetime], None] | None = None,
) -> None:
    """Standby until the lock is ours, then ``start()``; ``stop()`` when the lock is lost or on shutdown."""
    try:
        while not shutdown.is_set():
            if not lock.try_acquire():
                shutdown.wait(poll_seconds)
                continue
            log.info("elected leader (advisory lock %s)", lock.lock_id)
            if on_change:
                on_change("leader", datetime.now(UTC))
            start()
            try:
                while not shutdown.is_set() and lock.held():
                    shutdown.wait(poll_seconds)
            finally:
                stop()
                lock.release()
                log.info("stepped down")
                if on_change:
                    on_change("standby", datetime.now(UTC))
    finally:
        lock.dispose()
