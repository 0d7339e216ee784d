"""A customer who changed their WhatsApp number (or business-scoped user id) keeps who they are with us.

WhatsApp tells with a ``system`` message (``user_changed_number`` with ``new_wa_id``; ``user_changed_user_id``
with the new BSUID, 2026). The contact row is re-keyed in place, so everything that points at it (consent and its
proof, chat orders, conversation, back-in-stock subscriptions, history) stays theirs; messages still waiting in the
outbox go to the new address. Should the customer have written from the new number before the system message
arrived, that second contact is merged into the first: its rows move over, and where both hold a row that may exist
once (a consent per purpose, the conversation) the newer consent and the older conversation are kept, so a STOP said
on either number still holds.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, false, or_, select, update

from connector.db.models import Base, Contact, OutboundMessage
from connector.db.models_conversation import ConversationState
from connector.db.models_notify import BackInStockSubscription, Consent

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

#: Outbox states of messages not sent yet: they follow the customer to the new address.
_WAITING = ("pending", "deferred")


def _referencing() -> list[tuple[Table, str]]:
    """Every (table, column) holding a contact id."""
    found: list[tuple[Table, str]] = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "contacts" and fk.column.name == "id":
                found.append((table, fk.parent.name))
    return found


def _merge_subscriptions(session: Session, keep: int, gone: int) -> None:
    """Active back-in-stock subscriptions are unique per contact and variant (``active_key`` names the contact): one
    of ``gone`` that ``keep`` holds too ends, the others take ``keep``'s key. So the merged customer gets one alert."""
    from connector.notify.back_in_stock import active_key  # (the notify subsystem imports the chat's modules)

    for sub in session.scalars(
        select(BackInStockSubscription).where(
            BackInStockSubscription.contact_id == gone, BackInStockSubscription.active_key.is_not(None)
        )
    ).all():
        key = active_key(keep, sub.shop_connection_id, sub.variant_external_id)
        if session.scalar(select(BackInStockSubscription.id).where(BackInStockSubscription.active_key == key)):
            sub.status, sub.active_key, sub.ended_at = "cancelled", None, datetime.now(UTC)
        else:
            sub.active_key = key


def _merge(session: Session, keep: int, gone: int) -> None:
    """Move everything of contact ``gone`` to contact ``keep``, then delete ``gone``."""
    purposes_kept = {
        row.purpose: row for row in session.scalars(select(Consent).where(Consent.contact_id == keep)).all()
    }
    for theirs in session.scalars(select(Consent).where(Consent.contact_id == gone)).all():
        ours = purposes_kept.get(theirs.purpose)
        if ours is None:
            continue
        # The later decision stands (a STOP on the new number beats an older opt-in on the old one).
        if theirs.updated_at > ours.updated_at:
            session.delete(ours)
        else:
            session.delete(theirs)
    _merge_subscriptions(session, keep, gone)
    session.flush()
    if session.scalar(select(ConversationState.id).where(ConversationState.contact_id == keep)) is not None:
        session.execute(delete(ConversationState).where(ConversationState.contact_id == gone))
    for table, column in _referencing():
        session.execute(update(table).where(table.c[column] == gone).values({column: keep}))
    session.execute(delete(Contact).where(Contact.id == gone))


def change_number(session: Session, contact_id: int, new_phone: str, new_user_id: str) -> None:
    """Re-key ``contact_id`` to ``new_phone`` (WhatsApp digits) and/or ``new_user_id`` (a BSUID), merging a contact
    that already has that address (see the module docstring). Inside the caller's transaction."""
    contact = session.get(Contact, contact_id)
    if contact is None or not (new_phone or new_user_id):
        return
    old_key = contact.channel_user_id
    if new_phone:
        new_key = new_phone
    elif contact.user_id and contact.channel_user_id == contact.user_id:
        new_key = new_user_id  # known only by the BSUID: the new one is how we reach them now
    else:
        new_key = old_key
    other = session.scalar(
        select(Contact.id).where(
            Contact.channel_connection_id == contact.channel_connection_id,
            Contact.id != contact.id,
            or_(Contact.channel_user_id == new_key, (Contact.user_id == new_user_id) if new_user_id else false()),
        )
    )
    if other is not None:
        _merge(session, contact.id, other)
    contact.channel_user_id = new_key
    if new_phone:
        contact.phone = "+" + new_phone
        # A new number means a new BSUID (Meta regenerates it); the old one addresses nobody now.
        contact.user_id = new_user_id or None
    elif new_user_id:
        contact.user_id = new_user_id
    session.flush()
    if new_key != old_key:
        session.execute(
            update(OutboundMessage)
            .where(
                OutboundMessage.channel_connection_id == contact.channel_connection_id,
                OutboundMessage.recipient == old_key,
                OutboundMessage.status.in_(_WAITING),
            )
            .values(recipient=new_key)
        )
    log.info("contact %s moved from %s to %s", contact.id, old_key, new_key)
