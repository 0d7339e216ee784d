"""Replies in order: every reply is stored first; the next one enters the outbox when the channel accepted the last.

The outbox sends messages with several workers at once, so two messages queued together can arrive in
either order. A chat answer of several parts (a product list, then its "notify me" choices, then a
"More" button) must arrive in the order written: :func:`store` writes the parts and queues part 0;
``connector_notification_sent`` for part ``n`` calls :func:`advance`, which queues part ``n + 1``.
Outbox idempotency keys are ``chat:<inbound id>:<n>``, so a repeated advance queues nothing twice.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
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
#: Outbox rows (per runtime) known to be the last part of their answer, so :func:`advance` need not look for a
#: next one. Only a shortcut: a row not in it (another process queued it, or this one restarted) is looked up.
_LAST: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()
_LAST_LIMIT = 10_000
_last_lock = threading.Lock()


_REPLIES = ChatReply.__table__


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
) -> int | None:
    """Write ``replies`` for ``inbound_id`` and queue the first, inside the caller's transaction. Returns the
    outbox row of the first reply when it was queued now."""
    if not replies:
        return None
    # The first reply enters the outbox first, so every reply row goes in with one INSERT (no ORM objects to flush,
    # no UPDATE to note the outbox row afterwards).
    first = queue_message(
        rt,
        channel_connection_id=channel_connection_id,
        recipient=recipient,
        message=replies[0],
        kind=KIND,
        idempotency_key=key(inbound_id, 0),
        contact_id=contact_id,
        session=session,
    )
    session.execute(
        insert(_REPLIES),
        [
            {
                "inbound_message_id": inbound_id,
                "seq": seq,
                "channel_connection_id": channel_connection_id,
                "contact_id": contact_id,
                "recipient": recipient,
                "payload": to_json(reply),
                "outbound_message_id": first if seq == 0 else None,
            }
            for seq, reply in enumerate(replies)
        ],
    )
    return first


def remember_last(rt: Runtime, outbound_id: int) -> None:
    """Remember (after the commit that queued it) that outbox row ``outbound_id`` is the last part of its answer."""
    with _last_lock:
        known = _LAST.setdefault(rt, set())
        if len(known) >= _LAST_LIMIT:
            known.clear()  # rows never sent (their process died) would pile up otherwise; the lookup still works
        known.add(outbound_id)


def _queue(
    rt: Runtime,
    session: Session,
    inbound_id: int,
    seq: int,
    row: ChatReply | None = None,
    message: model.Outbound | None = None,
) -> int | None:
    if row is None:
        row = session.scalar(select(ChatReply).where(ChatReply.inbound_message_id == inbound_id, ChatReply.seq == seq))
    if row is None:
        return None
    outbound_id = queue_message(
        rt,
        channel_connection_id=row.channel_connection_id,
        recipient=row.recipient,
        message=message if message is not None else from_json(row.payload),
        kind=KIND,
        idempotency_key=key(inbound_id, seq),
        contact_id=row.contact_id,
        session=session,
    )
    if outbound_id is not None:
        row.outbound_message_id = outbound_id
    return outbound_id


def advance(rt: Runtime, message_id: int) -> None:
    """The channel accepted outbox row ``message_id``: if it was a chat reply, queue the next part."""
    with _last_lock:
        known = _LAST.get(rt)
        if known is not None and message_id in known:
            known.discard(message_id)
            return
    with rt.db.session() as session:
        idempotency_key = session.scalar(
            select(OutboundMessage.idempotency_key).where(OutboundMessage.id == message_id)
        )
        found = _KEY.match(idempotency_key or "")
        if found is None:
            return
        queued = _queue(rt, session, int(found.group(1)), int(found.group(2)) + 1)
    if queued is not None:
        rt.queue.notify()
