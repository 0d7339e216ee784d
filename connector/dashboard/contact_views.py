"""What the contacts page shows beyond the contact row: consent as a timeline of what the customer agreed to or
withdrew (purpose, source, their words, when), and back-in-stock subscriptions by product name and state."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from connector.dashboard.products import ProductName, name_of, names
from connector.db.models_notify import BackInStockSubscription, ConsentEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: At most this many consent events and subscriptions are shown per contact (newest first).
PER_CONTACT = 20


@dataclass(slots=True)
class ConsentStep:
    """One opt-in or opt-out."""

    purpose: str
    granted: bool
    source: str
    text: str
    at: datetime
    on_channel: bool


@dataclass(slots=True)
class Subscription:
    """A back-in-stock wish: the product, its state and dates."""

    product: ProductName
    status: str
    created_at: datetime
    ended_at: datetime | None
    expires_at: datetime


def consent_timelines(session: Session, contact_ids: list[int]) -> dict[int, list[ConsentStep]]:
    """``contact id -> consent events``, newest first (the audit trail behind the current consent)."""
    result: dict[int, list[ConsentStep]] = defaultdict(list)
    if not contact_ids:
        return result
    rows = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.contact_id.in_(contact_ids))
        .order_by(ConsentEvent.contact_id, ConsentEvent.at.desc(), ConsentEvent.id.desc())
    )
    for event in rows:
        steps = result[event.contact_id]
        if len(steps) < PER_CONTACT:
            steps.append(
                ConsentStep(
                    event.purpose, event.action == "opt_in", event.source, event.text, event.at, event.on_channel
                )
            )
    return result


def subscriptions(session: Session, contact_ids: list[int]) -> dict[int, list[Subscription]]:
    """``contact id -> back-in-stock subscriptions`` with product names, newest first."""
    result: dict[int, list[Subscription]] = defaultdict(list)
    if not contact_ids:
        return result
    rows = list(
        session.scalars(
            select(BackInStockSubscription)
            .where(BackInStockSubscription.contact_id.in_(contact_ids))
            .order_by(BackInStockSubscription.contact_id, BackInStockSubscription.id.desc())
        )
    )
    found = names(session, {(row.shop_connection_id, row.variant_external_id) for row in rows})
    for row in rows:
        subs = result[row.contact_id]
        if len(subs) < PER_CONTACT:
            product = name_of(found, row.shop_connection_id, row.variant_external_id)
            subs.append(Subscription(product, row.status, row.created_at, row.ended_at, row.expires_at))
    return result
