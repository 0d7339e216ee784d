"""Quiet hours in the customer's local time: the time zone of their number's country, else the shop's."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

from connector.notify.settings import NotifySettings


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@lru_cache(maxsize=4096)
def _zone_of_prefix(prefix: str, fallback: str) -> ZoneInfo:
    """The time zone of numbers starting with ``prefix`` (calling code and the first national digits)."""
    try:
        number = phonenumbers.parse("+" + prefix.ljust(12, "0"), None)
        zones = number_zones.time_zones_for_number(number)
    except phonenumbers.NumberParseException:
        zones = ()
    name = zones[0] if zones and zones[0] != number_zones.UNKNOWN_TIMEZONE else fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_for(phone: str | None, fallback: str) -> ZoneInfo:
    """The customer's time zone (the first of their number's; the shop's when the number names none)."""
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    if not digits:
        return _zone_of_prefix("", fallback)
    return _zone_of_prefix(digits[:5], fallback)  # the zone depends on the calling code and area, not the line


def quiet_until(settings: NotifySettings, phone: str | None, now: datetime) -> datetime | None:
    """When the customer's quiet hours end if ``now`` is inside them, else ``None``."""
    start, end = _clock(settings.campaign_quiet_hours_start), _clock(settings.campaign_quiet_hours_end)
    if start == end:
        return None
    local = now.astimezone(zone_for(phone, settings.shop_timezone))
    clock = local.time()
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo)
