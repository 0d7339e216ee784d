"""Rate limits of the public (unauthenticated) endpoints: per client address and per phone number.

Both the back-in-stock endpoint and the website widget's opt-in share one pair of limiters per Flask app, so a
client cannot double its allowance by alternating endpoints, and nobody can flood one number with requests (each
may lead to a confirmation question in the customer's chat). Counters live where ``[notify] rate_limit_storage``
says (``database``: shared by every process).
"""

from __future__ import annotations

import math

from flask import current_app, request

from connector.ratelimit import DatabaseStorage, MemoryStorage, RateLimiter, Storage
from connector.web.context import runtime

_EXTENSION = "notify_public_limits"


class PublicLimits:
    """The two limiters, built from the ``[notify]`` settings."""

    def __init__(self, storage: Storage, *, per_address_per_minute: int, per_phone_per_hour: int):
        self.by_address = RateLimiter.sliding(storage, limit=per_address_per_minute, window=60.0, prefix="public:")
        self.by_phone = RateLimiter.sliding(storage, limit=per_phone_per_hour, window=3600.0, prefix="public-phone:")


def _limits() -> PublicLimits:
    found = current_app.extensions.get(_EXTENSION)
    if found is None:
        rt = runtime()
        settings = rt.config.notify
        storage: Storage = DatabaseStorage(rt.db) if settings.rate_limit_storage == "database" else MemoryStorage()
        found = current_app.extensions[_EXTENSION] = PublicLimits(
            storage,
            per_address_per_minute=settings.public_subscribe_per_minute,
            per_phone_per_hour=settings.public_requests_per_phone_per_hour,
        )
    return found


def address_wait() -> int:
    """0 when this client address may make a request now, else whole seconds to wait (for ``Retry-After``)."""
    return math.ceil(_limits().by_address.try_acquire(request.remote_addr or "unknown"))


def phone_wait(phone_digits: str) -> int:
    """0 when a request for this number may be made now, else whole seconds to wait (for ``Retry-After``)."""
    return math.ceil(_limits().by_phone.try_acquire(phone_digits))
