"""Jinja helpers the dashboard's templates use to put untrusted data into markup safely.

Autoescaping (on for every ``.html`` template) covers text and quoted attribute values; what it cannot
judge is whether a URL from a shop or a chat message is a web link or a ``javascript:`` one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlsplit

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from flask import Blueprint, g
from markupsafe import Markup

WEB_SCHEMES = frozenset({"http", "https"})


def is_web_url(value: object) -> bool:
    """Whether ``value`` is an absolute ``http(s)://`` URL with a host (safe as ``href`` or ``src``)."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


def money(amount: float | Decimal, currency: str, exact: bool = False) -> str:
    """``amount`` in ``currency`` as the viewer's language writes it (``12,50 €`` in German, ``€12.50`` in
    English); ``exact`` keeps more decimals than the currency's (a message costs fractions of a cent); a missing
    currency code shows the plain number."""
    language = g.get("lang", "en")
    if len(currency or "") != 3:
        return format_decimal(amount, format="#,##0.00", locale=language)
    return format_currency(amount, currency.upper(), locale=language, decimal_quantization=not exact)


def day(value: date | str) -> str:
    """A day with its weekday, in the viewer's language (``Mon 7 Dec 2026`` / ``Mo. 7 Dez. 2026``)."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return format_date(value, "EEE d MMM y", locale=g.get("lang", "en"))


def when(value: datetime | None) -> Markup:
    """A moment with its day: ``Mon 7 Dec 2026, 08:35 UTC`` in the viewer's language, in a ``<time>`` element that
    dashboard.js rewrites into the viewer's own time zone."""
    if value is None:
        return Markup("\u2013")  # an en dash: no time
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    text = format_datetime(value.astimezone(UTC), "EEE d MMM y, HH:mm", tzinfo=UTC, locale=g.get("lang", "en"))
    return Markup('<time class="local" datetime="{}">{} UTC</time>').format(value.isoformat(), text)


def register(bp: Blueprint) -> None:
    """Make ``is web_url`` and the ``money`` / ``day`` / ``when`` filters available to every template of the app."""
    bp.add_app_template_test(is_web_url, "web_url")
    bp.add_app_template_filter(money, "money")
    bp.add_app_template_filter(day, "day")
    bp.add_app_template_filter(when, "when")
