"""The per-customer cap on marketing messages: at most ``frequency_cap_messages`` per ``frequency_cap_days``.

A stand-in with the contract of :mod:`connector.notify.frequency` (built alongside for abandoned-checkout
recovery): ``allows(session, contact_id, now, settings) -> (bool, reason)``. Every marketing outbox row counts that
was not skipped or failed (queued ones too: they are about to go), whatever sent it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from connector.campaigns.texts import _
from connector.db.models import OutboundMessage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.notify.settings import NotifySettings

#: Outbox states that do not count: nothing reached the customer and nothing will.
NOT_COUNTED = ("skipped", "failed")


def reason(settings: NotifySettings) -> str:
    """Why a capped customer gets nothing."""
    return _(
        "frequency cap: {count} marketing messages per {days:g} days reached",
        count=settings.frequency_cap_messages,
        days=settings.frequency_cap_days,
    )


def capped(session: Session, contact_ids: Collection[int] | None, now: datetime, settings: NotifySettings) -> set[int]:
    """The contacts (of ``contact_ids``, or all with ``None``) who reached the cap, in one query."""
    if settings.frequency_cap_messages <= 0 or (contact_ids is not None and not contact_ids):
        return set()
    since = now - timedelta(days=settings.frequency_cap_days)
    statement = (
        select(OutboundMessage.contact_id)
        .where(
            OutboundMessage.purpose == "marketing",
            OutboundMessage.created_at >= since,
            OutboundMessage.status.not_in(NOT_COUNTED),
            OutboundMessage.contact_id.is_not(None),
        )
        .group_by(OutboundMessage.contact_id)
        .having(func.count() >= settings.frequency_cap_messages)
    )
    if contact_ids is not None:
        statement = statement.where(OutboundMessage.contact_id.in_(list(contact_ids)))
    return {int(c) for c in session.scalars(statement) if c is not None}


def allows(session: Session, contact_id: int, now: datetime, settings: NotifySettings) -> tuple[bool, str | None]:
    """Whether one more marketing message may go to the contact now, and if not, why."""
    if contact_id in capped(session, [contact_id], now, settings):
        return False, reason(settings)
    return True, None
