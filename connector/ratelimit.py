"""Rate limiting: token buckets over a pluggable storage, so a limit can hold in one process or across many.

A :class:`RateLimiter` allows ``rate`` events per second per key with bursts of up to ``burst``; it is used for
the per-phone-number throughput limit (80 to 1,000 messages/s), per-recipient pacing (WhatsApp's pair rate,
error 131056) and the public back-in-stock endpoint (requests per client per minute).

A bucket lets through at most ``burst + rate * T`` events in any span of ``T`` seconds. A platform that counts
its limit over a sliding window (the Graph API's messages per second) refuses the excess of a bucket whose burst
is a whole window's worth (up to twice the limit in one window, after a pause): :meth:`RateLimiter.within`
builds the bucket that stays inside the window.

Storages
--------
* :class:`MemoryStorage`: a dict behind a lock. Limits hold within one process.
* :class:`DatabaseStorage`: the ``rate_limit_buckets`` table (SQLite or PostgreSQL). Limits hold across every
  process sharing the database; each take is one short transaction (``SELECT ... FOR UPDATE`` on PostgreSQL,
  ``BEGIN IMMEDIATE`` on SQLite).
* A Redis storage lives in ``connector/cluster/`` and implements the same protocol.

The storage protocol
--------------------
A storage is any object with these two methods (see :class:`Storage`); both must be atomic per key across
every client of the storage (a Lua script or ``WATCH``/``MULTI`` in Redis):

``take(key, *, rate, burst, cost, now) -> float``
    Refill the bucket ``key`` by ``rate`` tokens per second since its last update (capped at ``burst``; a bucket
    seen for the first time starts full), then, if at least ``cost`` tokens are there, remove them and return
    ``0.0``. Otherwise remove nothing (but store the refill) and return the seconds until ``cost`` tokens will
    be there: ``(cost - tokens) / rate``. ``now`` is UNIX time in seconds (``time.time()``), passed in so
    every process measures against the same clock and tests can move time.

``block(key, *, seconds, rate, burst, now) -> None``
    Empty the bucket and owe ``seconds`` worth of tokens (``tokens = -seconds * rate``), so no take succeeds for
    ``seconds``: the backoff after a platform answered "too fast" (WhatsApp 130429).

Buckets may be forgotten at any time when full (a Redis key can expire after ``burst / rate`` seconds).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from connector.db import Database


class Storage(Protocol):
    """Where buckets live. See the module docstring for the exact contract."""

    def take(self, key: str, *, rate: float, burst: float, cost: float, now: float) -> float:
        """Take ``cost`` tokens from ``key``; 0.0 if taken, else seconds until they will be there."""
        ...

    def block(self, key: str, *, seconds: float, rate: float, burst: float, now: float) -> None:
        """Let nothing through ``key`` for ``seconds``."""
        ...


def _refill(tokens: float, updated: float, *, rate: float, burst: float, now: float) -> float:
    return min(burst, tokens + max(0.0, now - updated) * rate)


class MemoryStorage:
    """Buckets in this process's memory. Thread-safe."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, *, rate: float, burst: float, cost: float, now: float) -> float:
        """See :class:`Storage`."""
        with self._lock:
            tokens, updated = self._buckets.get(key, (burst, now))
            tokens = _refill(tokens, updated, rate=rate, burst=burst, now=now)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / rate

    def block(self, key: str, *, seconds: float, rate: float, burst: float, now: float) -> None:
        """See :class:`Storage`."""
        with self._lock:
            self._buckets[key] = (-seconds * rate, now)


class DatabaseStorage:
    """Buckets in the ``rate_limit_buckets`` table, shared by every process on the database."""

    def __init__(self, db: Database):
        self.db = db

    def _row(self, session: object, key: str, burst: float, now: float) -> tuple[float, float]:
        from connector.db.models_notify import RateLimitBucket

        dialect = postgresql if self.db.is_postgres else sqlite
        insert = dialect.insert(RateLimitBucket).values(key=key, tokens=burst, updated=now)
        session.execute(insert.on_conflict_do_nothing(index_elements=["key"]))  # type: ignore[attr-defined]
        query = select(RateLimitBucket.tokens, RateLimitBucket.updated).where(RateLimitBucket.key == key)
        if self.db.is_postgres:
            query = query.with_for_update()
        tokens, updated = session.execute(query).one()  # type: ignore[attr-defined]
        return float(tokens), float(updated)

    def take(self, key: str, *, rate: float, burst: float, cost: float, now: float) -> float:
        """See :class:`Storage`."""
        from connector.db.models_notify import RateLimitBucket

        with self.db.session() as session:
            tokens, updated = self._row(session, key, burst, now)
            tokens = _refill(tokens, updated, rate=rate, burst=burst, now=max(now, updated))
            wait = 0.0
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (cost - tokens) / rate
            session.execute(
                update(RateLimitBucket)
                .where(RateLimitBucket.key == key)
                .values(tokens=tokens, updated=max(now, updated))
            )
            return wait

    def block(self, key: str, *, seconds: float, rate: float, burst: float, now: float) -> None:
        """See :class:`Storage`."""
        from connector.db.models_notify import RateLimitBucket

        with self.db.session() as session:
            self._row(session, key, burst, now)
            session.execute(
                update(RateLimitBucket).where(RateLimitBucket.key == key).values(tokens=-seconds * rate, updated=now)
            )


class RateLimiter:
    """``rate`` events per second per key, bursts up to ``burst`` (default: one second's worth)."""

    def __init__(self, storage: Storage, *, rate: float, burst: float | None = None, prefix: str = ""):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.storage = storage
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self.prefix = prefix

    @classmethod
    def sliding(cls, storage: Storage, *, limit: int, window: float, prefix: str = "") -> RateLimiter:
        """At most ``limit`` events per ``window`` seconds per key (on average, with bursts up to ``limit``)."""
        return cls(storage, rate=limit / window, burst=float(limit), prefix=prefix)

    @classmethod
    def within(
        cls, storage: Storage, *, limit: float, window: float = 1.0, burst_share: float = 0.05, prefix: str = ""
    ) -> RateLimiter:
        """At most ``limit`` events in any span of ``window`` seconds, as a platform counting a sliding window
        sees them: bursts of ``burst_share`` of the limit (at least 1), refilled at the rest of the limit, so
        ``burst + rate * window == limit``. A limit below 2 per window keeps the plain bucket (no smaller burst
        exists)."""
        burst = max(1.0, limit * burst_share)
        if limit - burst <= 0:
            return cls(storage, rate=limit / window, burst=1.0, prefix=prefix)
        return cls(storage, rate=(limit - burst) / window, burst=burst, prefix=prefix)

    def try_acquire(self, key: str, cost: float = 1.0, *, now: float | None = None) -> float:
        """Take ``cost`` now if allowed: returns 0.0; otherwise the seconds to wait (nothing taken)."""
        return self.storage.take(
            self.prefix + key, rate=self.rate, burst=self.burst, cost=cost, now=time.time() if now is None else now
        )

    def acquire(self, key: str, *, timeout: float, cost: float = 1.0) -> float:
        """Wait (sleeping) until allowed, at most ``timeout`` seconds. Returns 0.0 once taken, else the wait still
        needed after giving up (the caller reschedules the work instead of holding a thread)."""
        deadline = time.monotonic() + timeout
        while True:
            wait = self.try_acquire(key, cost)
            if wait <= 0:
                return 0.0
            if time.monotonic() + wait > deadline:
                return wait
            time.sleep(wait)

    def block(self, key: str, seconds: float) -> None:
        """Let nothing through ``key`` for ``seconds`` (backoff after the platform throttled us)."""
        self.storage.block(self.prefix + key, seconds=seconds, rate=self.rate, burst=self.burst, now=time.time())
