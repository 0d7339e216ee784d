"""Quiet hours: no marketing message reaches a customer at night, their night.

The customer's time zone is their phone number's (``phonenumbers``' time-zone data; a country with one zone, such
as Germany, gives it), else the shop's (``shop_time_zone``). Between ``quiet_hours_start`` and
``quiet_hours_end`` local time (default 21:00-09:00, spanning midnight) a message waits until the end.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

if TYPE_CHECKING:
    from connector.notify.settings import NotifySettings


@lru_cache(maxsize=4096)
def _zone_of_number(digits: str) -> str | None:
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    zones = {z for z in phone_zones.time_zones_for_number(number) if z != phone_zones.UNKNOWN_TIMEZONE}
    return zones.pop() if len(zones) == 1 else None


def zone_for(settings: NotifySettings, phone: str | None) -> ZoneInfo:
    """The customer's time zone: their phone number's when it has exactly one, else the shop's."""
    digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
    name = _zone_of_number(digits) if 6 <= len(digits) <= 15 else None
    try:
        return ZoneInfo(name or settings.shop_time_zone)
    except ZoneInfoNotFoundError:
        return ZoneInfo(settings.shop_time_zone)


def _clock(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


def quiet_until(settings: NotifySettings, phone: str | None, now: datetime) -> datetime | None:
    """When the customer's quiet hours end (UTC) if ``now`` falls inside them, else ``None``."""
    start, end = _clock(settings.quiet_hours_start), _clock(settings.quiet_hours_end)
    if start == end:
        return None
    zone = zone_for(settings, phone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    # The wall-clock end on that day in the customer's zone (a DST change in between is resolved by zoneinfo).
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def reason(settings: NotifySettings, until: datetime, phone: str | None) -> str:
    """Why a message waits (shown on the deferred message)."""
    from connector.notify.frequency import _

    zone = zone_for(settings, phone)
    return _("quiet hours of the customer (%(start)s-%(end)s %(zone)s): waits until %(until)s") % {
        "start": settings.quiet_hours_start,
        "end": settings.quiet_hours_end,
        "zone": zone.key,
        "until": until.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
    }
