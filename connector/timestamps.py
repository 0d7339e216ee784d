"""Times from outside (webhook payloads): epoch numbers and ISO 8601 strings as aware UTC datetimes, in range.

``datetime.fromtimestamp(1e20)`` raises ``OverflowError`` or ``OSError`` (depending on the platform), an ISO string
at 9999-12-31 with a negative offset parses but overflows when converted to UTC, and a time near either end of
``datetime``'s range breaks the first ``+ timedelta`` that follows (a 24-hour window, a retry delay). These helpers
accept only :data:`EARLIEST` <= t < :data:`LATEST` and raise :class:`OutOfRange` (a ``ValueError``) otherwise; the
``*_or_none`` variants log why and return ``None`` for a caller that can do without the time.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


class OutOfRange(ValueError):
    """A time that is no number or date, or lies outside ``[EARLIEST, LATEST)``."""


def from_epoch(value: Any, *, millis: bool = False) -> datetime:
    """Seconds (or ``millis``econds) since 1970 (a number or a numeric string) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OutOfRange(f"epoch time {value!r} is not a number")
    try:
        seconds = float(value) if not isinstance(value, int) else value
    except ValueError:
        raise OutOfRange(f"epoch time {value!r} is not a number") from None
    if millis:
        seconds = seconds / 1000
    if not (isinstance(seconds, int) or math.isfinite(seconds)) or not (
        EARLIEST.timestamp() <= seconds < LATEST.timestamp()
    ):
        raise OutOfRange(f"epoch time {value!r} is outside {EARLIEST.year}-{LATEST.year}")
    return datetime.fromtimestamp(seconds, tz=UTC)


def from_iso(value: str, *, naive_is_utc: bool = True) -> datetime:
    """An ISO 8601 string (``Z`` allowed) as an aware UTC datetime; a naive one is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is None and naive_is_utc:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise OutOfRange(f"time {value!r} is not an ISO 8601 date within range: {exc}") from None
    if not EARLIEST <= parsed < LATEST:
        raise OutOfRange(f"time {value!r} is outside {EARLIEST.year}-{LATEST.year}")
    return parsed


def epoch_or_none(value: Any, *, millis: bool = False, where: str = "timestamp") -> datetime | None:
    """:func:`from_epoch`, or ``None`` (logged) when ``value`` is missing, no number or out of range."""
    if value is None:
        return None
    try:
        return from_epoch(value, millis=millis)
    except OutOfRange as exc:
        log.info("%s ignored: %s", where, exc)
        return None


def iso_or_none(value: Any, *, where: str = "time") -> datetime | None:
    """:func:`from_iso`, or ``None`` (logged) when ``value`` is empty, no date or out of range."""
    if not value:
        return None
    try:
        return from_iso(value)
    except OutOfRange as exc:
        log.info("%s ignored: %s", where, exc)
        return None
