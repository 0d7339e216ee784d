"""Cost and reach: a price estimate per message from the rate card, the daily budget and the reach limit.

The price of a message depends on its pricing category (``service`` = free-form inside the window, ``utility``,
``marketing``) and the recipient's country, read from the phone number with ``phonenumbers``, and on the day it
was sent: the rate card in force then (``[notify] rate_cards``) says what is free inside the 24-hour window
(service replies and utility templates until 2026-09-30; nothing since 2026-10-01, when service replies cost the
market's utility rate). Every message inside the free entry-point window (72 hours after the customer wrote from
a Click-to-WhatsApp ad) is free.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connector.db.models import InboundMessage, OutboundMessage
from connector.notify.portfolio import Portfolio, portfolio_of

if TYPE_CHECKING:
    from connector.notify.settings import NotifySettings, RateCard

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
    #: The channel connection's business portfolio (the reach limit is the portfolio's), read once.
    portfolio: Portfolio | None = None
    #: Templates' categories as Meta re-categorized them (``(name, language) -> category or None``), read once.
    template_categories: dict[tuple[str, str], str | None] = field(default_factory=dict)
    #: Marketing messages this transaction decided to send, by contact (the frequency cap counts them in).
    marketing: dict[int, int] = field(default_factory=dict)
    #: Marketing messages each of the batch's contacts got in the frequency cap's window, read once for the batch
    #: (``None``: read per message).
    marketing_counts: dict[int, int] | None = None


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


#: Categories Meta reports that are priced by another category's row when the card has none of their own.
_PRICED_AS = {"marketing_lite": "marketing", "authentication_international": "authentication"}
#: Categories Meta reports for messages that cost nothing (a free entry point).
FREE_CATEGORIES = frozenset({"referral_conversion"})


def card_for(settings: NotifySettings, at: datetime | None) -> RateCard:
    """The rate card in force on ``at``'s UTC day (the oldest card for a day before all of them)."""
    cards = settings.rate_cards
    moment = at or datetime.now(UTC)
    day = moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
    chosen = cards[0]
    for card in cards:
        if card.effective_from <= day:
            chosen = card
    return chosen


def price(card: RateCard, category: str, country: str | None) -> float:
    """The card's price of one billed message of ``category`` to ``country``."""
    if category in FREE_CATEGORIES:
        return 0.0
    if category == "service" and card.service_priced_as:
        category = card.service_priced_as
    row = card.prices.get(category)
    if row is None and category in _PRICED_AS:
        row = card.prices.get(_PRICED_AS[category])
    row = row or {}
    return float(row.get(country or "", row.get("default", 0.0)))


def estimate(
    settings: NotifySettings,
    category: str,
    country: str | None,
    *,
    inside_window: bool,
    at: datetime | None = None,
    entry_point: bool = False,
) -> float:
    """The rate-card price of one message sent at ``at`` (now by default): nothing inside a free entry point,
    nothing for a category the card makes free inside the window, else the card's price."""
    if entry_point:
        return 0.0
    card = card_for(settings, at)
    if inside_window and category in card.free_inside_window:
        return 0.0
    return price(card, category, country)


def billed_cost(
    settings: NotifySettings, category: str | None, billable: bool | None, country: str | None, sent_at: datetime | None
) -> float:
    """What Meta's reported pricing (``category``, ``billable``) costs by the card in force when it was sent."""
    if not category or billable is False:
        return 0.0
    return price(card_for(settings, sent_at), category, country)


def entry_points(session: Session, contact_ids: Collection[int], now: datetime, hours: float) -> dict[int, datetime]:
    """The contacts of ``contact_ids`` inside a free entry-point window: when they last wrote from a
    Click-to-WhatsApp ad or post (a referral with ``source_type`` ad / post) less than ``hours`` ago."""
    if hours <= 0 or not contact_ids:
        return {}
    since = now - timedelta(hours=hours)
    found: dict[int, datetime] = {}
    rows = session.execute(
        select(InboundMessage.contact_id, InboundMessage.data, InboundMessage.received_at).where(
            InboundMessage.contact_id.in_(list(contact_ids)),
            InboundMessage.has_referral.is_(True),
            InboundMessage.received_at >= since,
        )
    )
    for contact_id, data, received_at in cast("Iterable[tuple[int, Any, datetime]]", rows):
        if _from_ad(data) and (contact_id not in found or received_at > found[contact_id]):
            found[contact_id] = received_at
    return found


def _from_ad(data: object) -> bool:
    """Whether a stored message's referral names a Click-to-WhatsApp ad or post (not a product question)."""
    referral = data.get("referral") if isinstance(data, dict) else None
    if not isinstance(referral, dict):
        return False
    source = referral.get("source_type") or referral.get("source") or ""
    return str(source).lower() in ("ad", "post", "ads")


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


def portfolio_for(session: Session, settings: NotifySettings, channel_id: int, tally: Tally | None) -> Portfolio:
    """The channel connection's portfolio (kept in ``tally`` for the rest of its transaction)."""
    if tally is not None and tally.portfolio is not None:
        return tally.portfolio
    found = portfolio_of(session, settings, channel_id)
    if tally is not None:
        tally.portfolio = found
    return found


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
    then counts as reached). Users are counted over every number of the connection's business portfolio."""
    portfolio = portfolio_for(session, settings, channel_id, tally)
    limit = portfolio.reach_limit
    if limit <= 0 or (tally is not None and recipient in tally.reached):
        return None
    since = now - timedelta(hours=24)
    reached = (
        OutboundMessage.channel_connection_id.in_(portfolio.channel_ids),
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
