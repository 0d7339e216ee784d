"""Erasing a contact (GDPR Art. 17): every copy of what they said and gave, wherever it was kept.

* the contact row and, through their foreign keys, conversation state (addresses), chat orders, handoffs, chat
  replies, consent with its proof and history, back-in-stock subscriptions;
* inbound messages;
* outbox rows to them: kept for cost accounting, but cancelled if unsent, recipient ``erased``, content and
  channel message id dropped, errors and their delivery timeline scrubbed;
* stored webhook payloads that name them (found by the payloads' blind index): body emptied, kept as a
  delivery id so a redelivery is still recognised and not stored again;
* queued and finished tasks naming them, and their per-recipient rate-limit buckets.

On SQLite the write-ahead log is checkpointed afterwards: with ``secure_delete`` the old contents are then zeroed
in the database file, not left in free pages or the log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from connector.db.models import Contact, InboundMessage, OutboundMessage, Task, WebhookEvent
from connector.db.models_notify import OutboxEvent, RateLimitBucket
from connector.privacy.lookup import Person, identify, scrub, webhook_events_about

if TYPE_CHECKING:
    from connector.runtime import Runtime

ERASED = "erased"
ERASED_ERROR = "contact erased"


def erase_contact(rt: Runtime, contact_id: int) -> bool:
    """Erase one contact and every copy of their data. ``False`` if there is no such contact."""
    with rt.db.session() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            return False
        person = identify(session, contact)
        _erase_webhooks(session, webhook_events_about(session, rt.secrets, person))
        _erase_outbox(session, contact, person)
        _erase_tasks(session, person)
        session.execute(
            delete(RateLimitBucket).where(RateLimitBucket.key.endswith(f":{contact.channel_user_id}", autoescape=True))
        )
        session.execute(delete(InboundMessage).where(InboundMessage.contact_id == contact_id))
        session.delete(contact)
    rt.db.checkpoint()
    return True


def _erase_webhooks(session: Session, events: list[WebhookEvent]) -> None:
    now = datetime.now(UTC)
    for event in events:
        event.body = b""
        event.subjects = None
        event.headers = {}
        event.query = {}
        event.error = ERASED_ERROR
        event.status = "processed"
        event.processed_at = event.processed_at or now


def _erase_outbox(session: Session, contact: Contact, person: Person) -> None:
    ids = list(
        session.scalars(
            select(OutboundMessage.id).where(
                or_(
                    OutboundMessage.contact_id == contact.id,
                    (OutboundMessage.channel_connection_id == contact.channel_connection_id)
                    & (OutboundMessage.recipient == contact.channel_user_id),
                )
            )
        )
    )
    if not ids:
        return
    # Nothing goes out after erasure.
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids), OutboundMessage.status.in_(("pending", "deferred")))
        .values(status="skipped", error=ERASED_ERROR)
    )
    for row in session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(ids))):
        row.recipient = ERASED
        row.payload = {"erased": True}
        row.notification = None
        row.contact_id = None
        row.channel_message_id = None
        row.error = scrub(row.error, person.strings)
        row.reason = scrub(row.reason, person.strings)
    for event in session.scalars(select(OutboxEvent).where(OutboxEvent.message_id.in_(ids))):
        event.detail = scrub(event.detail, person.strings)


def _erase_tasks(session: Session, person: Person) -> None:
    """Tasks carry ids, but a send carries its recipient (and an error may quote them): scrub those."""
    needles = sorted(person.phones | person.emails)
    args_text = cast(Task.args, String)
    matches = [args_text.contains(n, autoescape=True) for n in needles]
    matches += [Task.last_error.contains(n, autoescape=True) for n in needles]
    for task in session.scalars(select(Task).where(or_(*matches))):
        task.args = scrub(task.args, person.strings, ERASED)
        task.last_error = scrub(task.last_error, person.strings)
