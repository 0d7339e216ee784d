"""Notification rows in the outbox and their state timeline.

:func:`queue_notification` adds a notification in the caller's transaction, keyed by an idempotency key, so a
notification exists exactly when its cause was recorded and a repeated cause adds nothing. What is sent is
decided at send time (:mod:`connector.notify.policy`): free-form inside the 24-hour window, a template outside.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from connector import model
from connector.db.models import Contact, OutboundMessage
from connector.db.models_notify import OutboxEvent
from connector.i18n import languages
from connector.serialization import to_json

if TYPE_CHECKING:
    from connector.runtime import Runtime


#: Recipients a fan-out (a back-in-stock wave, a campaign) queues per transaction with :func:`queue_notifications`.
#: Each chunk holds SQLite's write lock while the send batches wait to be claimed, and the throughput bucket saves up
#: only about 50 ms of tokens meanwhile: a chunk of 200 holds the lock about 40 ms, one of 500 held it 55-65 ms and
#: cost sends (docs/benchmarks.md, fan-out).
QUEUE_CHUNK = 200

#: Timeline entries (a plain INSERT, built once: several per message sent; with a list of rows, an executemany).
ADD_EVENTS = insert(OutboxEvent.__table__)


def record_event(session: Session, message_id: int, status: str, detail: str | None = None) -> None:
    """Append a state change to the message's timeline (written at once, in ``session``'s transaction)."""
    session.execute(ADD_EVENTS, {"message_id": message_id, "status": status, "detail": detail})


def language_of(contact: Contact | None, fallback: str) -> str:
    """The contact's language (``de_DE`` -> ``de``, ``pt_BR`` -> ``pt_BR``), or ``fallback``. A locale we ship no
    catalog for keeps its language code (``ja``): an owner's ``<kind>/default.ja.j2`` still finds it."""
    if contact is not None and contact.locale:
        return languages.from_locale(contact.locale) or contact.locale.replace("-", "_").split("_")[0].lower()
    return fallback


def queue_notification(
    rt: Runtime,
    session: Session,
    *,
    contact: Contact,
    kind: str,
    purpose: str,
    variables: dict[str, Any],
    idempotency_key: str,
    priority: int = 40,
    send_task: bool = True,
    language: str | None = None,
) -> int | None:
    """Add a notification for ``contact`` in ``session``'s transaction; ``None`` if the key was queued before.

    With ``send_task=False`` no ``message.send`` task is enqueued: the caller sends the row in a batch
    (:func:`connector.chat.messages.enqueue_batches`) in the same transaction. ``language`` overrides the
    contact's (the language a chat was held in, when the channel tells no locale)."""
    exists = session.scalar(select(OutboundMessage.id).where(OutboundMessage.idempotency_key == idempotency_key))
    if exists is not None:
        return None
    language = language or language_of(contact, rt.config.notify.default_language)
    row = OutboundMessage(
        channel_connection_id=contact.channel_connection_id,
        contact_id=contact.id,
        recipient=contact.channel_user_id,
        kind=kind,
        payload=to_json(model.TextMessage(body="(rendered when sent)")),
        idempotency_key=idempotency_key,
        purpose=purpose,
        notification={"language": language, "vars": variables},
        status="pending",
    )
    session.add(row)
    session.flush()
    record_event(session, row.id, "pending", f"{kind} queued")
    if not send_task:
        return row.id
    rt.queue.enqueue(
        "message.send",
        {"message_id": row.id, "channel_connection_id": row.channel_connection_id, "recipient": row.recipient},
        session=session,
        priority=priority,
    )
    return row.id


def queue_notifications(
    rt: Runtime,
    session: Session,
    *,
    kind: str,
    purpose: str,
    variables: dict[str, Any],
    recipients: list[tuple[Contact, str, str | None]],
    per_contact: dict[int, dict[str, Any]] | None = None,
    columns: dict[str, Any] | None = None,
) -> dict[str, int]:
    """:func:`queue_notification` (without send tasks) for many contacts at once: ``recipients`` holds
    ``(contact, idempotency key, language or None)``. Returns the new rows' ids by idempotency key; keys queued
    before get none. A few statements whatever the number (a back-in-stock wave queues hundreds at a time).
    ``per_contact``: variables of one contact (by id) added to ``variables`` (a campaign's parameters);
    ``columns``: further outbox columns of every row (a campaign's ``campaign_id``)."""
    if not recipients:
        return {}
    keys = [key for _, key, _ in recipients]
    taken = set(
        session.scalars(select(OutboundMessage.idempotency_key).where(OutboundMessage.idempotency_key.in_(keys)))
    )
    payload = to_json(model.TextMessage(body="(rendered when sent)"))
    fallback = rt.config.notify.default_language
    rows = [
        {
            "channel_connection_id": contact.channel_connection_id,
            "contact_id": contact.id,
            "recipient": contact.channel_user_id,
            "kind": kind,
            "payload": payload,
            "idempotency_key": key,
            "purpose": purpose,
            "notification": {
                "language": language or language_of(contact, fallback),
                "vars": {**variables, **(per_contact or {}).get(contact.id, {})},
            },
            "status": "pending",
            **(columns or {}),
        }
        for contact, key, language in recipients
        if key not in taken
    ]
    if not rows:
        return {}
    table = OutboundMessage.__table__
    created: dict[str, int] = {
        str(key): int(message_id)
        for message_id, key in cast(
            "Iterable[tuple[int, str]]",
            session.execute(insert(table).returning(table.c.id, table.c.idempotency_key), rows),
        )
    }
    session.execute(
        insert(OutboxEvent),
        [
            {"message_id": message_id, "status": "pending", "detail": f"{kind} queued"}
            for message_id in created.values()
        ],
    )
    return created
