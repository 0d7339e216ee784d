"""Replies in order: every reply is stored first; the next one enters the outbox when the channel accepted the last.

The outbox sends messages with several workers at once, so two messages queued together can arrive in
either order. A chat answer of several parts (a product list, then its "notify me" choices, then a
"More" button) must arrive in the order written: :func:`store` writes the parts and queues part 0;
``connector_notification_sent`` for part ``n`` calls :func:`advance`, which queues part ``n + 1``.
Outbox idempotency keys are ``chat:<inbound id>:<n>``, so a repeated advance queues nothing twice.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connector import model
from connector.chat.messages import queue_message
from connector.db.models import OutboundMessage
from connector.db.models_conversation import ChatReply
from connector.serialization import from_json, to_json

if TYPE_CHECKING:
    from connector.runtime import Runtime

KIND = "chat_reply"
_KEY = re.compile(r"^chat:(\d+):(\d+)$")


def key(inbound_id: int, seq: int) -> str:
    """The outbox idempotency key of reply ``seq`` to inbound message ``inbound_id``."""
    return f"chat:{inbound_id}:{seq}"


def store(
    rt: Runtime,
    session: Session,
    *,
    inbound_id: int,
    channel_connection_id: int,
    contact_id: int,
    recipient: str,
    replies: list[model.Outbound],
) -> None:
    """Write ``replies`` for ``inbound_id`` and queue the first, inside the caller's transaction."""
    for seq, reply in enumerate(replies):
        session.add(
            ChatReply(
                inbound_message_id=inbound_id,
                seq=seq,
                channel_connection_id=channel_connection_id,
                contact_id=contact_id,
                recipient=recipient,
                payload=to_json(reply),
            )
        )
    session.flush()
    if replies:
        _queue(rt, session, inbound_id, 0)


def _queue(rt: Runtime, session: Session, inbound_id: int, seq: int) -> bool:
    row = session.scalar(select(ChatReply).where(ChatReply.inbound_message_id == inbound_id, ChatReply.seq == seq))
    if row is None:
        return False
    outbound_id = queue_message(
        rt,
        channel_connection_id=row.channel_connection_id,
        recipient=row.recipient,
        message=from_json(row.payload),
        kind=KIND,
        idempotency_key=key(inbound_id, seq),
        contact_id=row.contact_id,
        session=session,
    )
    if outbound_id is not None:
        session.execute(update(ChatReply).where(ChatReply.id == row.id).values(outbound_message_id=outbound_id))
    return outbound_id is not None


def advance(rt: Runtime, message_id: int) -> None:
    """The channel accepted outbox row ``message_id``: if it was a chat reply, queue the next part."""
    with rt.db.session() as session:
        idempotency_key = session.scalar(
            select(OutboundMessage.idempotency_key).where(OutboundMessage.id == message_id)
        )
        found = _KEY.match(idempotency_key or "")
        if found is None:
            return
        queued = _queue(rt, session, int(found.group(1)), int(found.group(2)) + 1)
    if queued:
        rt.queue.notify()
