"""The outbound message outbox: a row first, then a ``message.send`` task that sends it once.

:func:`queue_message` writes the row (inside the caller's transaction when given a session, so a
message exists exactly when its cause does). The send task marks the row ``sending`` before it calls
the channel and records the channel's message id after; a process killed in between leaves
``sending``, which is resolved from delivery-status webhooks instead of being blindly sent again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from connector import model
from connector.db.models import OutboundMessage
from connector.errors import MessageLimitError, SendAction, SendError
from connector.serialization import from_json, to_json
from connector.work.queue import Retry, backoff_seconds

if TYPE_CHECKING:
    from connector.runtime import Runtime
    from connector.work.registry import TaskContext, TaskRegistry

log = logging.getLogger(__name__)


def queue_message(
    rt: Runtime,
    *,
    channel_connection_id: int,
    recipient: str,
    message: model.Outbound,
    kind: str,
    idempotency_key: str,
    contact_id: int | None = None,
    session: Session | None = None,
) -> int | None:
    """Add a message to the outbox and enqueue its send. ``None`` if that idempotency key was queued before."""

    def add(s: Session) -> int | None:
        existing = s.query(OutboundMessage.id).filter_by(idempotency_key=idempotency_key).scalar()
        if existing is not None:
            return None
        row = OutboundMessage(
            channel_connection_id=channel_connection_id,
            contact_id=contact_id,
            recipient=recipient,
            kind=kind,
            payload=to_json(message),
            idempotency_key=idempotency_key,
        )
        s.add(row)
        s.flush()
        rt.queue.enqueue("message.send", {"message_id": row.id}, session=s, priority=30)
        return row.id

    if session is not None:
        return add(session)
    with rt.db.session() as own:
        message_id = add(own)
    rt.queue._notify()
    return message_id


def _set(rt: Runtime, message_id: int, **values: object) -> None:
    with rt.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(**values))


def _send_task(ctx: TaskContext, message_id: int) -> None:
    rt = ctx.runtime
    with rt.db.session() as session:
        row = session.get(OutboundMessage, message_id)
        if row is None or row.status not in ("pending", "deferred"):
            return  # already sent, or its outcome is unknown and is being reconciled: never send twice
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(status="sending", attempts=OutboundMessage.attempts + 1)
        )
    adapter = rt.connections.channel_adapter(row.channel_connection_id)
    message = from_json(row.payload)
    recipient = model.Contact(channel=adapter.name, channel_user_id=row.recipient, phone=row.recipient)
    try:
        result = adapter.send(recipient, message)
    except MessageLimitError as exc:
        _set(rt, message_id, status="failed", error=f"message breaks a channel limit: {exc}")
        return
    except SendError as exc:
        if exc.action in (SendAction.RETRY_LATER, SendAction.RETRY):
            _set(rt, message_id, status="pending", error=str(exc))
            raise Retry(exc.retry_after or backoff_seconds(row.attempts + 1, base=2, cap=300), str(exc)) from None
        _set(rt, message_id, status="failed", error=f"{exc.action.value}: {exc}")
        return
    except Exception as exc:
        # The request may or may not have reached the channel: do not resend blindly.
        _set(rt, message_id, status="unknown", error=f"{type(exc).__name__}: {exc}")
        raise
    _set(rt, message_id, status="sent", channel_message_id=result.message_id, sent_at=datetime.now(UTC), error=None)
    rt.plugins.notification_sent(row.channel_connection_id, message_id, result.message_id, row.kind)


def register(tasks: TaskRegistry) -> None:
    tasks.register("message.send", _send_task)


def send_test_message(
    rt: Runtime,
    channel_connection_id: int,
    to: str,
    *,
    text: str | None = None,
    template: str | None = None,
    language: str = "en_US",
) -> int:
    """Queue a test message to ``to`` (a phone number in international format, digits only or with ``+``).

    WhatsApp only lets a business start a conversation with an approved template: use ``template`` to
    reach a phone that has not written in the last 24 hours (``hello_world`` exists in every new account).
    """
    import uuid

    recipient = to.lstrip("+").replace(" ", "")
    if not recipient.isdigit():
        raise ValueError(f"not a phone number in international format: {to!r}")
    message: model.Outbound = (
        model.TemplateMessage(name=template, language=language)
        if template
        else model.TextMessage(body=text or "Hello from Chatshop Connector!")
    )
    message_id = queue_message(
        rt,
        channel_connection_id=channel_connection_id,
        recipient=recipient,
        message=message,
        kind="test",
        idempotency_key=f"test:{uuid.uuid4()}",
    )
    assert message_id is not None  # a fresh key is never a duplicate
    return message_id
