"""Who a campaign's preview leaves out for the per-user marketing frequency cap (:mod:`connector.notify.frequency`,
``marketing_cap_messages`` per ``marketing_cap_days``), for a whole segment in one grouped query.

The preview counts queued marketing messages too (they are about to go): it says who the campaign will not reach;
the policy then applies :func:`connector.notify.frequency.allows` to each message as it is sent.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from connector.db.models import OutboundMessage
from connector.notify.frequency import reason

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.notify.settings import NotifySettings

#: Outbox states that do not count: nothing reached the customer and nothing will.
NOT_COUNTED = ("skipped", "failed")


def capped(session: Session, contact_ids: Collection[int] | None, now: datetime, settings: NotifySettings) -> set[int]:
    """The contacts (of ``contact_ids``, or all with ``None``) who reached the cap, in one query."""
    if settings.marketing_cap_messages <= 0 or (contact_ids is not None and not contact_ids):
        return set()
    since = now - timedelta(days=settings.marketing_cap_days)
    statement = (
        select(OutboundMessage.contact_id)
        .where(
            OutboundMessage.purpose == "marketing",
            OutboundMessage.created_at >= since,
            OutboundMessage.status.not_in(NOT_COUNTED),
            OutboundMessage.contact_id.is_not(None),
        )
        .group_by(OutboundMessage.contact_id)
        .having(func.count() >= settings.marketing_cap_messages)
    )
    if contact_ids is not None:
        statement = statement.where(OutboundMessage.contact_id.in_(list(contact_ids)))
    return {int(c) for c in session.scalars(statement) if c is not None}


__all__ = ["capped", "reason"]
