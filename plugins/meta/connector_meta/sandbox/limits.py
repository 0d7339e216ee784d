"""Sliding-window call counters for the sandbox's rate limits (mps, pair rate, catalog calls/minute)."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable


class SlidingWindow:
    """Counts events per key over the last ``window`` seconds. Not thread-safe: callers hold the state lock.

    Each key keeps a deque of timestamps; expired ones are dropped from the left, so a check costs
    amortised O(1) however many keys exist.
    """

    def __init__(self) -> None:
        self._events: dict[Hashable, deque[float]] = {}

    def try_acquire(self, key: Hashable, now: float, limit: int, window: float) -> bool:
        """Record one event for ``key`` at ``now`` unless ``limit`` events already happened in ``window``."""
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
        cutoff = now - window
        while events and events[0] <= cutoff:
            events.popleft()
        if len(events) >= limit:
            return False
        events.append(now)
        return True

    def clear(self) -> None:
        self._events.clear()
