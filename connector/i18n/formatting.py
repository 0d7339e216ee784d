"""Money, numbers and dates through Babel, in one format per locale, wherever the connector shows them.

``language`` is a catalog language code (``de``, ``pt_BR``, ...); Babel knows each one's currency pattern
(``122,95 €`` in German, ``€122.95`` in English, ``€ 122,95`` in Dutch). Dates always show the day, in the
viewer's time zone (an IANA name such as ``Europe/Berlin``; naive datetimes are UTC, as the database stores them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton
from babel.numbers import format_currency, format_decimal


def locale(language: str) -> Locale:
    """The Babel locale of ``language`` (English for anything Babel does not know)."""
    try:
        return Locale.parse(language or "en")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def zone(name: str | None) -> tzinfo:
    """The time zone ``name`` (UTC when empty or unknown: a typo in a setting must not break a page)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def money(amount: Any, currency: str, language: str, *, precise: bool = False) -> str:
    """``amount`` of ``currency`` as ``language`` writes it (``12,50 €``); a Money-like object brings its currency.

    ``precise`` keeps up to four decimals (message costs are fractions of a cent: ``0,0113 €``)."""
    if hasattr(amount, "amount") and hasattr(amount, "currency"):
        amount, currency = amount.amount, amount.currency
    value = Decimal(str(amount))
    if precise:
        return format_currency(
            value.quantize(Decimal("0.0001")), currency or "EUR", locale=locale(language), decimal_quantization=False
        )
    return format_currency(value, currency or "EUR", locale=locale(language))


def number(value: Any, language: str, *, digits: int | None = None) -> str:
    """``value`` with ``language``'s separators (``1.234,5``); ``digits`` fixes the decimals."""
    if digits is None:
        return format_decimal(Decimal(str(value)), locale=locale(language))
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(Decimal(str(value)), format=pattern, locale=locale(language))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def date_time(value: datetime | None, language: str, time_zone: str | None = None) -> str:
    """Weekday, date and time (``Mo., 7. Dez. 2026, 03:38``) in ``time_zone``; empty for ``None``."""
    if value is None:
        return ""
    local = _aware(value).astimezone(zone(time_zone))
    where = locale(language)
    # The locale's own way to join a date and a time ("{1}, {0}", "{1} à {0}", ...).
    joined = str(where.datetime_formats["medium"])
    day_part = format_skeleton("yMMMEd", local, locale=where)
    return joined.replace("{1}", day_part).replace("{0}", format_skeleton("Hm", local, locale=where))


def day(value: date | datetime | str | None, language: str, time_zone: str | None = None) -> str:
    """The date (``07.12.2026``), in ``time_zone`` for a datetime; an ISO date string is a date; empty for ``None``."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        value = _aware(value).astimezone(zone(time_zone)).date()
    return format_date(value, "medium", locale=locale(language))


def time_of_day(value: datetime | None, language: str, time_zone: str | None = None) -> str:
    """Only the time (``03:38``) in ``time_zone``: for rows that already show the day."""
    if value is None:
        return ""
    return format_skeleton("Hm", _aware(value).astimezone(zone(time_zone)), locale=locale(language))
