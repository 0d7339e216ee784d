"""The rate limiter over both storages; the database one shared by two runtimes (two processes' worth of state)."""

from __future__ import annotations

from connector.db import Database
from connector.db.migrate import upgrade
from connector.ratelimit import DatabaseStorage, MemoryStorage, RateLimiter, Storage


def _check(storage: Storage) -> None:
    limiter = RateLimiter(storage, rate=10, burst=5)
    now = 1_000_000.0
    assert [limiter.try_acquire("number-1", now=now) for _ in range(5)] == [0.0] * 5
    assert abs(limiter.try_acquire("number-1", now=now) - 0.1) < 1e-9  # the 6th waits a tenth of a second
    assert limiter.try_acquire("number-2", now=now) == 0.0  # other keys are not affected
    assert limiter.try_acquire("number-1", now=now + 0.11) == 0.0  # refilled
    storage.block("number-2", seconds=3, rate=10, burst=5, now=now)  # backoff after a 130429
    assert limiter.try_acquire("number-2", now=now + 2.9) > 0
    assert limiter.try_acquire("number-2", now=now + 3.2) == 0.0


def test_memory_storage() -> None:
    _check(MemoryStorage())


def test_database_storage_holds_across_processes(database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)
    try:
        upgrade(first)
        _check(DatabaseStorage(first))
        pair = RateLimiter.sliding(DatabaseStorage(first), limit=2, window=60)
        other = RateLimiter.sliding(DatabaseStorage(second), limit=2, window=60)
        now = 2_000_000.0
        assert pair.try_acquire("customer", now=now) == 0.0
        assert other.try_acquire("customer", now=now) == 0.0
        assert pair.try_acquire("customer", now=now) > 0  # the third in the window waits, whoever asks
        assert other.try_acquire("customer", now=now) > 0
    finally:
        first.dispose()
        second.dispose()
