"""What a segment would cost before anything is sent: who matches, who is excluded and why, the estimated cost by
country with today's rate card, and the share the reach limit and the budget would defer.

One pass over the matching contacts (their phone, consent and reachability in one query, the frequency cap in
one more): 100,000 contacts take well under two seconds on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from connector.campaigns.texts import _
from connector.db.models import Contact, OutboundMessage
from connector.db.models_notify import Consent
from connector.i18n.catalogs import N_
from connector.notify import frequency, pricing
from connector.notify.portfolio import portfolio_of

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from connector.notify.settings import NotifySettings

#: Why a matching contact gets nothing (the keys of ``excluded``; the API returns them in English, the dashboard
#: translates them where it shows them).
NO_CONSENT = N_("no consent")
OPTED_OUT = N_("opted out")
FREQUENCY_CAP = N_("frequency cap")
UNREACHABLE = N_("unreachable")
US_NUMBER = N_("US number")
BAD_PHONE = N_("unusable phone number")


def reasons() -> dict[str, str]:
    """Each exclusion reason, explained for people."""
    return {
        NO_CONSENT: _("never opted in to marketing messages"),
        OPTED_OUT: _("said STOP to marketing messages"),
        FREQUENCY_CAP: _("already got the most marketing messages the frequency cap allows"),
        UNREACHABLE: _("WhatsApp reported them unreachable"),
        US_NUMBER: _("WhatsApp does not deliver marketing templates to US (+1) numbers"),
        BAD_PHONE: _("their phone number is unusable"),
    }


@dataclass
class Audience:
    """The matching contacts split into who gets the message and who is excluded (by reason)."""

    matching: int = 0
    eligible: list[tuple[int, int, str | None, str, bool]] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    #: ``(contact id, reason)`` of each excluded contact, and the highest contact id looked at.
    excluded_ids: list[tuple[int, str]] = field(default_factory=list)
    last_id: int = 0


@dataclass
class CountryCost:
    country: str | None
    messages: int
    rate: float
    cost: float


def country_of_prefix(phone: str | None) -> str | None:
    """The country of a number by its calling code, cached per code (the codes shared by several countries, +1 and
    +7, ask the full parse)."""
    if not phone:
        return None
    digits = phone.lstrip("+")
    for size in (1, 2, 3):
        if not digits[:size].isdigit():
            return None
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
        if regions is not None:
            return regions[0] if len(regions) == 1 else pricing.country_of(phone)
    return None


def audience(
    session: Session,
    settings: NotifySettings,
    contacts: list[ColumnElement[bool]],
    now: datetime,
    *,
    after: int = 0,
    limit: int | None = None,
) -> Audience:
    """Split the contacts matching the clauses ``contacts`` (ids above ``after``, at most ``limit`` of them, by id)
    by whether a marketing message may go to them. ``eligible`` holds ``(id, channel id, phone, channel user id,
    window open)``."""
    window_since = now - timedelta(hours=24)
    # An alias: a segment's own consent filter (an EXISTS on the table) must not correlate to this join.
    marketing = aliased(Consent)
    statement = (
        select(
            Contact.id,
            Contact.channel_connection_id,
            Contact.phone,
            Contact.channel_user_id,
            Contact.unreachable_at,
            Contact.phone_problem,
            Contact.last_inbound_at,
            marketing.granted,
        )
        .outerjoin(marketing, and_(marketing.contact_id == Contact.id, marketing.purpose == "marketing"))
        .where(*contacts, Contact.id > after)
        .order_by(Contact.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    rows = session.execute(statement).all()
    found = Audience(matching=len(rows), last_id=rows[-1][0] if rows else after)
    ids = [r[0] for r in rows] if limit is not None else None
    capped = frequency.capped(session, ids, now, settings, queued=True)  # who a send starting now leaves out
    for contact_id, channel_id, phone, user_id, unreachable, problem, last_inbound, granted in rows:
        reason = _exclusion(settings, granted, problem, unreachable, phone or "+" + user_id, contact_id in capped)
        if reason is not None:
            found.excluded[reason] += 1
            found.excluded_ids.append((contact_id, reason))
        else:
            inside = last_inbound is not None and last_inbound > window_since
            found.eligible.append((contact_id, channel_id, phone, user_id, inside))
    return found


def _exclusion(
    settings: NotifySettings, granted: bool | None, problem: str | None, unreachable: Any, number: str, capped: bool
) -> str | None:
    """Why a contact gets no marketing message, or ``None``."""
    if granted is None:
        return NO_CONSENT
    if not granted:
        return OPTED_OUT
    if problem:
        return BAD_PHONE
    if unreachable is not None:
        return UNREACHABLE
    if settings.block_us_marketing_templates and number.startswith("+1"):
        return US_NUMBER
    return FREQUENCY_CAP if capped else None


def costs(
    settings: NotifySettings, eligible: list[tuple[int, int, str | None, str, bool]], now: datetime
) -> list[CountryCost]:
    """The estimated cost by country of one marketing template to each eligible contact, with today's rates."""
    counts: Counter[str | None] = Counter()
    by_prefix: dict[str, str | None] = {}
    for _id, _channel, phone, user_id, _inside in eligible:
        number = phone or "+" + user_id
        prefix = number[:4]
        if prefix not in by_prefix or prefix.startswith(("+1", "+7")):
            by_prefix[prefix] = country_of_prefix(number)
        counts[by_prefix[prefix]] += 1
    found = []
    for country, messages in counts.most_common():
        rate = pricing.estimate(settings, "marketing", country, inside_window=False, at=now)
        found.append(CountryCost(country, messages, rate, round(rate * messages, 4)))
    return found


def _reached(session: Session, channel_ids: list[int], now: datetime) -> int:
    """Unique users reached outside the window by these numbers in the last 24 hours."""
    return int(
        session.scalar(
            select(func.count(func.distinct(OutboundMessage.recipient))).where(
                OutboundMessage.channel_connection_id.in_(channel_ids),
                OutboundMessage.outside_window.is_(True),
                OutboundMessage.sent_at > now - timedelta(hours=24),
                OutboundMessage.status.in_(pricing.SPENT),
            )
        )
        or 0
    )


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def preview(
    session: Session,
    settings: NotifySettings,
    contacts: list[ColumnElement[bool]],
    now: datetime,
    *,
    budget_cap: float = 0.0,
) -> dict[str, Any]:
    """The preview of sending one marketing template to the contacts matching ``contacts`` now (``budget_cap``: the
    campaign's)."""
    found = audience(session, settings, contacts, now)
    by_country = costs(settings, found.eligible, now)
    total = round(sum(c.cost for c in by_country), 4)
    eligible = len(found.eligible)
    average = total / eligible if eligible else 0.0
    # Reach limit: new users outside the window count against the portfolio's limit.
    outside: defaultdict[int, int] = defaultdict(int)
    for _id, channel_id, _phone, _user, inside in found.eligible:
        if not inside:
            outside[channel_id] += 1
    reach_deferred = 0
    budget_deferred = 0
    seen: set[str] = set()
    for channel_id, count in outside.items():
        portfolio = portfolio_of(session, settings, channel_id)
        if portfolio.key in seen:
            continue
        seen.add(portfolio.key)
        needed = sum(outside.get(c, 0) for c in portfolio.channel_ids) or count
        if portfolio.reach_limit > 0:
            room = max(0, portfolio.reach_limit - _reached(session, portfolio.channel_ids, now))
            reach_deferred += max(0, needed - room)
    if settings.daily_budget > 0 and average > 0:
        per_channel: Counter[int] = Counter(channel_id for _id, channel_id, *_rest in found.eligible)
        for channel_id, count in per_channel.items():
            money = max(0.0, settings.daily_budget - pricing.spent_today(session, channel_id, now))
            budget_deferred += max(0, count - int(money / average + 1e-9))
    not_sent_cap = max(0, eligible - int(budget_cap / average + 1e-9)) if budget_cap > 0 and average > 0 else 0
    return {
        "matching": found.matching,
        "eligible": eligible,
        "excluded": dict(found.excluded),
        "excluded_reasons": {key: text for key, text in reasons().items() if key in found.excluded},
        "cost": {
            "currency": settings.rate_card_currency,
            "total": total,
            "by_country": [
                {"country": c.country, "messages": c.messages, "rate": c.rate, "cost": c.cost} for c in by_country
            ],
        },
        "deferred": {
            "reach_limit": {"messages": reach_deferred, "share": _share(reach_deferred, eligible)},
            "daily_budget": {"messages": budget_deferred, "share": _share(budget_deferred, eligible)},
        },
        "budget_cap": {"cap": budget_cap, "not_sent": not_sent_cap, "share": _share(not_sent_cap, eligible)},
    }
