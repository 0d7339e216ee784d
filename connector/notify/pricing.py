"""Cost and reach: a price estimate per message from the rate card, the daily budget and the reach limit.

The price of a message depends on its pricing category (``service`` = free-form inside the window, ``utility``,
``marketing``) and the recipient's country, read from the phone number with ``phonenumbers``. Utility templates
inside an open window are free (WhatsApp per-message pricing since July 2025).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector.db.models import OutboundMessage

if TYPE_CHECKING:
    from connector.notify.settings import NotifySettings

#: Outbox states that count as "went out" for budget and reach.
SPENT = ("sending", "unknown", "sent", "delivered", "read")


@dataclass
class Tally:
    """A channel connection's spend today and its reach count, read once in a transaction and counted up as the
    transaction decides to send. A batch decides many messages before it writes any of them, so the database
    alone would not see the earlier ones; reading once also saves two queries per message."""

    spent: float | None = None
    reach_count: int | None = None
    #: Users reached outside the window by this transaction's messages.
    reached: set[str] = field(default_factory=set)


#: The country in front of a business-scoped user id: two capitals and a dot (``US.``, ``US.ENT.``).
_BSUID_COUNTRY = re.compile(r"[A-Z]{2}\.")


def country_of(phone: str | None) -> str | None:
    """ISO country code of an international phone number (``4915112345678`` -> ``DE``), ``None`` if unknown.

    The answer is ``phonenumbers``' (``region_code_for_number`` of the parsed number). For a plain digit string
    whose calling code belongs to one country only (most of them), that is the country of the code, found
    without a full parse: a fan-out prices every message, and the parse was 6% of its CPU.

    A WhatsApp business-scoped user id (``US.13491208655302741918``, a customer whose number WhatsApp hides) names
    its country in front: Meta prices by that country (platform-changes-2026.md §5)."""
    if not phone:
        return None
    if _BSUID_COUNTRY.match(phone):
        return phone[:2]
    digits = phone if phone.startswith("+") else "+" + phone
    national = _single_region_number(digits)
    if national is not None:
        return national
    try:
        number = phonenumbers.parse(digits, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number)


def _single_region_number(number: str) -> str | None:
    """The region of ``+<digits>`` when its calling code has exactly one region; ``None`` to ask the full parse."""
    digits = number[1:]
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):  # no calling code starts with 0
        return None
    for size in (1, 2, 3):  # calling codes are prefix-free, 1 to 3 digits
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
        if regions is not None:
            national_length = len(digits) - size
            # The lengths a parse accepts for a national number; anything else is the parse's to refuse.
            if len(regions) == 1 and _MIN_NATIONAL <= national_length <= _MAX_NATIONAL:
                return regions[0]
            return None
    return None


#: ``phonenumbers``' bounds for the national significant number's length.
_MIN_NATIONAL, _MAX_NATIONAL = 2, 17


def estimate(settings: NotifySettings, category: str, country: str | None, *, inside_window: bool) -> float:
    """The rate-card price of one message."""
    if category == "service" or (category == "utility" and inside_window):
        return 0.0
    card = settings.rate_card.get(category) or {}
    return float(card.get(country or "", card.get("default", 0.0)))


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def spent_today(session: Session, channel_id: int, now: datetime) -> float:
    """What the channel connection spent (estimated) since midnight UTC."""
    total = session.scalar(
        select(func.coalesce(func.sum(OutboundMessage.cost), 0.0)).where(
            OutboundMessage.channel_connection_id == channel_id,
            OutboundMessage.sent_at >= day_start(now),
            OutboundMessage.status.in_(SPENT),
        )
    )
    return float(total or 0.0)


def over_budget(
    session: Session, settings: NotifySettings, channel_id: int, cost: float, now: datetime, tally: Tally | None = None
) -> bool:
    """True when sending a message of ``cost`` would take the day's spend over the budget."""
    if settings.daily_budget <= 0 or cost <= 0:
        return False
    if tally is None:
        return spent_today(session, channel_id, now) + cost > settings.daily_budget + 1e-9
    if tally.spent is None:
        tally.spent = spent_today(session, channel_id, now)
    return tally.spent + cost > settings.daily_budget + 1e-9


def reach_deferral(
    session: Session,
    settings: NotifySettings,
    channel_id: int,
    recipient: str,
    now: datetime,
    tally: Tally | None = None,
) -> datetime | None:
    """When a message outside the window to a *new* user would exceed the reach limit: the time a slot frees up
    (the oldest reached user's message turns 24 hours old). ``None`` when it may go now (with ``tally``, the user
    then counts as reached)."""
    limit = settings.reach_limit
    if limit <= 0 or (tally is not None and recipient in tally.reached):
        return None
    since = now - timedelta(hours=24)
    reached = (
        OutboundMessage.channel_connection_id == channel_id,
        OutboundMessage.outside_window.is_(True),
        OutboundMessage.sent_at > since,
        OutboundMessage.status.in_(SPENT),
    )
    already = session.scalar(
        select(OutboundMessage.id).where(*reached, OutboundMessage.recipient == recipient).limit(1)
    )
    if already is not None:
        return None
    if tally is not None and tally.reach_count is not None:
        count = tally.reach_count
    else:
        count = session.scalar(select(func.count(func.distinct(OutboundMessage.recipient))).where(*reached)) or 0
    if count < limit:
        if tally is not None:
            tally.reach_count = count + 1
            tally.reached.add(recipient)
        return None
    oldest = session.scalar(select(func.min(OutboundMessage.sent_at)).where(*reached))
    return (oldest or now) + timedelta(hours=24, seconds=1)
