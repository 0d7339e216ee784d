"""The per-user marketing frequency cap, shared by every kind of marketing message.

A customer gets at most ``marketing_cap_messages`` marketing messages per ``marketing_cap_days`` (default: 2 per 7
days), counted across back-in-stock alerts, checkout recovery reminders and campaigns, so a shop does not burn its
quality rating (and the customer's patience) by stacking them. A message counts once it was claimed for sending
(``sending`` and later states, the same states that count toward the budget), in the window by when it was sent;
skipped, deferred and failed-before-sending ones do not. ``0`` messages switches the cap off.

A preview (a campaign's or a segment's) asks who a send starting now would leave out, so it also counts the
marketing messages still queued (``pending``/``deferred``: they go before the new campaign's, and count once sent):
``queued=True``. The send itself must not (the message being decided is one of them).

API for callers (the notification policy, campaigns, segment previews):

* :func:`allows` - may ``contact_id`` get one more marketing message now? ``(True, "")`` or ``(False, reason)``;
* :func:`capped` - the contacts among many that may not, with the reason (one grouped query, for previews and
  fan-outs).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select

from connector.db.models import OutboundMessage
from connector.notify.pricing import SPENT

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.notify.settings import NotifySettings


def _(text: str) -> str:
    """Marks a user-visible text for translation (gettext extracts ``_()`` calls; the catalogs translate it)."""
    return text


#: The purpose that makes a message marketing (the consent it needs).
MARKETING = "marketing"
#: Outbox states of a message that has not gone yet but will (counted by previews only).
QUEUED = ("pending", "deferred")
#: How many contact ids go into one ``IN (...)`` (SQLite's variable limit is far above, PostgreSQL has none).
_CHUNK = 5000


def reason(settings: NotifySettings) -> str:
    """Why a capped contact gets nothing (shown on the skipped message and in previews)."""
    return _("frequency cap: %(count)s marketing messages in %(days)s days reached") % {
        "count": settings.marketing_cap_messages,
        "days": f"{settings.marketing_cap_days:g}",
    }


def since(settings: NotifySettings, now: datetime) -> datetime:
    """The start of the moving window the cap counts in."""
    return now - timedelta(days=settings.marketing_cap_days)


def counts(
    session: Session,
    contact_ids: Collection[int] | None,
    now: datetime,
    settings: NotifySettings,
    *,
    queued: bool = False,
    at_least: int = 1,
) -> dict[int, int]:
    """Marketing messages each contact got in the cap's window (contacts with fewer than ``at_least`` are left out);
    ``contact_ids=None``: every contact. ``queued``: count the queued ones too (previews)."""
    counted = and_(OutboundMessage.status.in_(SPENT), OutboundMessage.sent_at >= since(settings, now))
    statement = (
        select(OutboundMessage.contact_id, func.count(OutboundMessage.id))
        .where(
            OutboundMessage.purpose == MARKETING,
            OutboundMessage.contact_id.is_not(None),
            or_(counted, OutboundMessage.status.in_(QUEUED)) if queued else counted,
        )
        .group_by(OutboundMessage.contact_id)
    )
    if at_least > 1:
        statement = statement.having(func.count(OutboundMessage.id) >= at_least)
    if contact_ids is None:
        return {int(contact): int(n) for contact, n in session.execute(statement) if contact is not None}
    ids = sorted(set(contact_ids))
    found: dict[int, int] = {}
    for offset in range(0, len(ids), _CHUNK):
        chunk = statement.where(OutboundMessage.contact_id.in_(ids[offset : offset + _CHUNK]))
        found.update({int(contact): int(n) for contact, n in session.execute(chunk) if contact is not None})
    return found


def capped(
    session: Session,
    contact_ids: Collection[int] | None,
    now: datetime,
    settings: NotifySettings,
    *,
    queued: bool = False,
) -> dict[int, str]:
    """The contacts among ``contact_ids`` (``None``: all) that may get no marketing message now, with the reason;
    ``queued``: as a send starting now would find them, after the queued marketing messages went (previews)."""
    if settings.marketing_cap_messages <= 0 or (contact_ids is not None and not contact_ids):
        return {}
    why = reason(settings)
    over = counts(session, contact_ids, now, settings, queued=queued, at_least=settings.marketing_cap_messages)
    return dict.fromkeys(over, why)


def allows(
    session: Session,
    contact_id: int,
    now: datetime,
    settings: NotifySettings,
    *,
    pending: MutableMapping[int, int] | None = None,
    counted: Mapping[int, int] | None = None,
) -> tuple[bool, str]:
    """Whether ``contact_id`` may get one more marketing message now: ``(True, "")`` or ``(False, reason)``.

    ``pending``: marketing messages a batch decided to send but has not written yet, by contact (counted in and,
    when allowed, counted up, so one batch cannot send a contact past the cap). ``counted``: :func:`counts` of the
    batch's contacts, when the caller read them at once (otherwise read here, one query)."""
    if settings.marketing_cap_messages <= 0:
        return True, ""
    if counted is not None:
        already = counted.get(contact_id, 0)
    else:
        already = counts(session, [contact_id], now, settings).get(contact_id, 0)
    extra = pending.get(contact_id, 0) if pending is not None else 0
    if already + extra >= settings.marketing_cap_messages:
        return False, reason(settings)
    if pending is not None:
        pending[contact_id] = extra + 1
    return True, ""
