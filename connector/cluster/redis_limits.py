"""A Redis storage for :mod:`connector.ratelimit`: token buckets shared by every worker process.

Celery's ``rate_limit`` is per worker, so N workers would send N times the allowed rate. This storage keeps
each bucket (``tokens``, ``updated``) in one Redis hash and changes it only inside a Lua script, which Redis
runs atomically: the per-phone-number throughput and per-recipient pacing of :mod:`connector.chat.messages`
then hold globally, whatever the number of workers and machines. It follows the storage protocol in
:mod:`connector.ratelimit` exactly (a new bucket starts full; ``block`` owes ``seconds * rate`` tokens); an
idle bucket expires once it would be full again.
"""

from __future__ import annotations

import math
from typing import Any

import redis

_TAKE = """
local rate, burst, cost, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, updated = burst, now end
if now > updated then
  tokens = math.min(burst, tokens + (now - updated) * rate)
  updated = now
end
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(updated))
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate + 1) * 1000))
return tostring(wait)
"""

_BLOCK = """
local seconds, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'tokens', tostring(-seconds * rate), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((seconds + 60) * 1000))
return 1
"""


class RedisStorage:
    """Token buckets in Redis (``<prefix><key>`` hashes), atomic per key across every client."""

    def __init__(self, url: str, *, prefix: str = "connector:rl:"):
        self.client: Any = redis.Redis.from_url(url)
        self.prefix = prefix
        self._take = self.client.register_script(_TAKE)
        self._block = self.client.register_script(_BLOCK)

    def take(self, key: str, *, rate: float, burst: float, cost: float, now: float) -> float:
        """Take ``cost`` tokens from ``key``; 0.0 if taken, else seconds until they will be there."""
        wait = float(self._take(keys=[self.prefix + key], args=[rate, burst, cost, repr(now)]))
        return wait if math.isfinite(wait) else 0.0

    def block(self, key: str, *, seconds: float, rate: float, burst: float, now: float) -> None:
        """Let nothing through ``key`` for ``seconds``."""
        self._block(keys=[self.prefix + key], args=[seconds, rate, repr(now)])

    def forget(self, key: str) -> None:
        """Drop a bucket (an operator lifting a backoff; tests)."""
        self.client.delete(self.prefix + key)
