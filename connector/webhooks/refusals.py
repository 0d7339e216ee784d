"""Webhook deliveries refused, and why: too old (a replay), a bad signature, a malformed payload.

Deduplication (one row per delivery id) forgets a delivery when housekeeping prunes its row after 30 days, so a
delivery replayed later would be processed again. Platforms that state when they sent a delivery (Shopware in the
signed body, Shopify in ``X-Shopify-Triggered-At``) get it refused once it is older than
``[server] webhook_max_age_seconds``. Refusals are counted per process for ``/metrics``.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

#: Why a delivery was refused, as counted: ``replay`` (sent too long ago or in the future), ``signature`` (401),
#: ``invalid`` (any other 4xx from the adapter).
REASONS = ("replay", "signature", "invalid")

_lock = threading.Lock()
_refused: Counter[tuple[str, str]] = Counter()


def count(adapter: str, reason: str) -> None:
    """Count one refused delivery for ``adapter``."""
    with _lock:
        _refused[(adapter, reason)] += 1


def counts() -> dict[tuple[str, str], int]:
    """Refused deliveries so far in this process, by (adapter, reason)."""
    with _lock:
        return dict(_refused)


def stale_reason(sent_at: datetime | None, now: datetime, max_age_seconds: int, max_skew_seconds: int) -> str | None:
    """Why a delivery sent at ``sent_at`` must be refused as a possible replay, or ``None`` when it may pass
    (including when the platform does not say when it sent it)."""
    if sent_at is None:
        return None
    age = now - sent_at
    if age > timedelta(seconds=max_age_seconds):
        return (
            f"delivery sent at {sent_at.isoformat()} is older than {max_age_seconds} s "
            "(server.webhook_max_age_seconds): refused as a possible replay"
        )
    if -age > timedelta(seconds=max_skew_seconds):
        return (
            f"delivery claims to be sent at {sent_at.isoformat()}, more than {max_skew_seconds} s in the future "
            "(server.webhook_max_skew_seconds): check the clocks"
        )
    return None
