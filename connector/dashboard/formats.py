"""Jinja filters that show money, numbers and dates in the viewer's language and time zone (through Babel).

``{{ amount | money(currency) }}`` (``money(currency, precise=true)`` for costs), ``{{ value | number }}`` (``number(4)`` for four decimals),
``{{ when | datetime }}`` (weekday, date and time), ``{{ when | when }}`` (the same in a ``<time>`` element that
dashboard.js rewrites into the viewer's own time zone), ``{{ when | day }}`` and ``{{ when | clock }}`` (the time only),
``{{ "45.57 EUR" | catalog_price }}`` (a Meta catalog's price text), ``{{ row.reason | reason }}`` (a reason stored in
English, in the viewer's language: :mod:`connector.i18n.stored`).
The language is the request's; the time zone is ``[dashboard] time_zone``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, g
from markupsafe import Markup

from connector.i18n import formatting, stored
from connector.web.context import runtime


def _language() -> str:
    return str(g.get("lang", "en"))


def _time_zone() -> str:
    return runtime().config.dashboard.time_zone


def money(amount: Any, currency: str = "", precise: bool = False) -> str:
    """``amount`` (a number or a Money) in ``currency``, as the viewer's language writes money (``precise``: up to
    four decimals, for message costs)."""
    return formatting.money(amount, currency, _language(), precise=precise)


_CATALOG_PRICE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+([A-Z]{3})\s*$")


def catalog_price(text: Any) -> str:
    """A Meta catalog price (``"45.57 EUR"``, the catalog's own format) as the viewer's language writes money;
    anything else as it is."""
    found = _CATALOG_PRICE.match(str(text or ""))
    return formatting.money(found.group(1), found.group(2), _language()) if found else str(text or "")


def number(value: Any, digits: int | None = None) -> str:
    """``value`` with the viewer's separators."""
    return formatting.number(value, _language(), digits=digits)


def date_time(value: datetime | None) -> str:
    """Weekday, date and time in the viewer's time zone."""
    return formatting.date_time(value, _language(), _time_zone())


def when(value: datetime | None) -> Markup:
    """Weekday, date and time in ``[dashboard] time_zone``, named, inside ``<time class="local">``: dashboard.js
    rewrites it into the viewer's own zone and keeps this text as its tooltip; an en dash for no time."""
    if value is None:
        return Markup("\u2013")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    zone_name = _time_zone() or "UTC"
    shown = f"{formatting.date_time(aware, _language(), zone_name)} {formatting.zone(zone_name)}"
    return Markup('<time class="local" datetime="{}">{}</time>').format(aware.astimezone(UTC).isoformat(), shown)


def day(value: date | datetime | None) -> str:
    """The date in the viewer's time zone."""
    return formatting.day(value, _language(), _time_zone())


def clock(value: datetime | None) -> str:
    """The time of day in the viewer's time zone (for rows that show the day elsewhere)."""
    return formatting.time_of_day(value, _language(), _time_zone())


def reason(text: str | None) -> str:
    """A reason the connector stored in English (a skipped message's, a paused campaign's, an exclusion's) in the
    viewer's language."""
    return stored.translate(text, _language())


def register(bp: Blueprint) -> None:
    """Make the filters available to every template of the app."""
    for name, function in (("money", money), ("number", number), ("datetime", date_time), ("day", day)):
        bp.add_app_template_filter(function, name)
    bp.add_app_template_filter(clock, "clock")
    bp.add_app_template_filter(when, "when")
    bp.add_app_template_filter(catalog_price, "catalog_price")
    bp.add_app_template_filter(reason, "reason")
