"""Global rate limits in Redis: one budget per key (phone number, shop) shared by every worker process.

Celery's ``rate_limit`` is per worker, so N workers would send N times the allowed rate. Here every
permit comes from one atomic Lua script (GCRA, the "generic cell rate algorithm" of token buckets):
Redis keeps, per key, the theoretical arrival time of the next request; a permit is granted when
that time minus the burst allowance is not in the future, otherwise the caller learns how long to
wait. One round trip per permit, no clock skew between workers (Redis' own ``TIME`` is the clock),
keys expire on their own when idle.
"""

from __future__ import annotations

import time
from typing import Any

import redis

_GCRA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])   -- microseconds per permit
local burst = tonumber(ARGV[2])      -- permits that may go at once
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * burst
if allow_at > now then
  return allow_at - now
end
redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


class RedisRateLimiter:
    """``acquire(key, rate, per)``: a permit now (returns 0.0) or the seconds to wait before asking again."""

    def __init__(self, url: str, *, prefix: str = "connector:rl:"):
        self.client: Any = redis.Redis.from_url(url)
        self.prefix = prefix
        self._script = self.client.register_script(_GCRA)

    def acquire(self, key: str, rate: float, per: float = 1.0, *, burst: float = 1.0, cost: float = 1.0) -> float:
        """Ask for ``cost`` permits of a budget of ``rate`` per ``per`` seconds; 0.0 when granted."""
        interval_us = int(per / rate * 1_000_000)
        wait_us = int(self._script(keys=[self.prefix + key], args=[interval_us, burst, cost]))
        return wait_us / 1_000_000

    def wait(self, key: str, rate: float, per: float = 1.0, *, burst: float = 1.0, timeout: float = 60.0) -> bool:
        """Block until a permit is granted (True) or ``timeout`` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        while True:
            delay = self.acquire(key, rate, per, burst=burst)
            if delay <= 0:
                return True
            if time.monotonic() + delay > deadline:
                return False
            time.sleep(delay)

    def reset(self, key: str) -> None:
        """Forget a key's state (tests, an operator lifting a limit)."""
        self.client.delete(self.prefix + key)
