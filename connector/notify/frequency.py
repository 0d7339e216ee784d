"""The per-user marketing frequency cap, shared by every kind of marketing message.

A customer gets at most ``marketing_cap_messages`` marketing messages per ``marketing_cap_days`` (default: 2 per 7
days), counted across back-in-stock alerts, checkout recovery reminders and campaigns, so a shop does not burn its
quality rating (and the customer's patience) by stacking them. A message counts once it was claimed for sending
(``sending`` and later states, the same states that count toward the budget); skipped, deferred and failed-before-
sending ones do not. ``0`` messages switches the cap off.

API for callers (the notification policy, campaigns, segment previews):

* :func:`allows` - may ``contact_id`` get one more marketing message now? ``(True, "")`` or ``(False, reason)``;
* :func:`capped` - the contacts among many that may not, with the reason (one query, for previews and fan-outs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

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


def counts(session: Session, contact_ids: Iterable[int], now: datetime, settings: NotifySettings) -> dict[int, int]:
    """Marketing messages each contact got in the cap's window (contacts with none are left out)."""
    ids = sorted(set(contact_ids))
    found: dict[int, int] = {}
    start = since(settings, now)
    for offset in range(0, len(ids), _CHUNK):
        chunk = ids[offset : offset + _CHUNK]
        rows = session.execute(
            select(OutboundMessage.contact_id, func.count(OutboundMessage.id))
            .where(
                OutboundMessage.contact_id.in_(chunk),
                OutboundMessage.purpose == MARKETING,
                OutboundMessage.status.in_(SPENT),
                OutboundMessage.sent_at >= start,
            )
            .group_by(OutboundMessage.contact_id)
        ).all()
        found.update({int(contact): int(n) for contact, n in rows if contact is not None})
    return found


def capped(session: Session, contact_ids: Iterable[int], now: datetime, settings: NotifySettings) -> dict[int, str]:
    """The contacts among ``contact_ids`` that may get no marketing message now, with the reason."""
    if settings.marketing_cap_messages <= 0:
        return {}
    why = reason(settings)
    return {
        contact: why
        for contact, n in counts(session, contact_ids, now, settings).items()
        if n >= settings.marketing_cap_messages
    }


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
