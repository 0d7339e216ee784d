"""Shopify's leaky bucket for GraphQL query cost."""

from __future__ import annotations

import threading
import time
from typing import Any


class CostBucket:
    """A bucket of ``maximum`` points that refills at ``restore_rate`` points per second.

    A query reserves its requested cost up front and gets the difference to its actual cost back.
    """

    def __init__(self, maximum: float, restore_rate: float):
        self.maximum = float(maximum)
        self.restore_rate = float(restore_rate)
        self._available = float(maximum)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._available = min(self.maximum, self._available + (now - self._stamp) * self.restore_rate)
        self._stamp = now

    def reserve(self, cost: int) -> bool:
        """Take ``cost`` points if the bucket holds them; return False (throttled) otherwise."""
        with self._lock:
            self._refill()
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def refund(self, points: int) -> None:
        with self._lock:
            self._refill()
            self._available = min(self.maximum, self._available + points)

    def drain(self, points: float) -> None:
        """Remove points without a query (tests use it to start from a nearly empty bucket)."""
        with self._lock:
            self._refill()
            self._available = max(0.0, self._available - points)

    def status(self) -> dict[str, Any]:
        with self._lock:
            self._refill()
            return {
                "maximumAvailable": self.maximum,
                "currentlyAvailable": int(self._available),
                "restoreRate": self.restore_rate,
            }
