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


def _accepted_by_a_sliding_second(limiter: RateLimiter, limit: int, takes: list[tuple[float, int]]) -> tuple[int, int]:
    """Replay ``(time, cost)`` takes through ``limiter`` (every granted token sent at once) into the Graph
    sandbox's own sliding-window counter at ``limit`` per second. Returns (sent, refused)."""
    from connector_meta.sandbox.limits import SlidingWindow

    meta = SlidingWindow()
    sent = refused = 0
    for at, cost in takes:
        if limiter.try_acquire("number", cost, now=at) == 0.0:
            for _ in range(cost):
                if meta.try_acquire("number", at, limit, 1.0):
                    sent += 1
                else:
                    refused += 1
    return sent, refused


def test_the_throughput_limit_stays_inside_metas_sliding_second() -> None:
    """A number allowed 1,000 messages/s: a fan-out that paused (the bucket full) then sends batches of 50 as fast
    as the limiter allows. The old bucket (a whole second's burst) sent up to twice the limit in one second and
    Meta refused the excess with 130429; the windowed one is never refused and still sends at 95% of the limit."""
    limit = 1000
    takes = [(1_000_000.0 + i * 0.001, 50) for i in range(3000)]  # asks for 50 every millisecond, for 3 s

    _old_sent, old_refused = _accepted_by_a_sliding_second(RateLimiter(MemoryStorage(), rate=limit), limit, takes)
    assert old_refused > 0  # what the sandbox measured: 130429s after every pause

    within = RateLimiter.within(MemoryStorage(), limit=limit, prefix="mps:")
    sent, refused = _accepted_by_a_sliding_second(within, limit, takes)
    assert refused == 0
    assert sent >= 0.95 * limit * 3 - 50  # three seconds at 95% of the limit (one batch's rounding)


def test_a_limit_too_small_for_a_smaller_burst_keeps_one_message_at_a_time() -> None:
    limiter = RateLimiter.within(MemoryStorage(), limit=1)
    now = 3_000_000.0
    assert limiter.try_acquire("n", now=now) == 0.0
    assert limiter.try_acquire("n", now=now + 0.5) > 0
    assert limiter.try_acquire("n", now=now + 1.0) == 0.0
