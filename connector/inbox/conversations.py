"""Reading the inbox: the conversations (filtered by "needs a person", unread, channel and shop) and one thread
in true order, every query inside the request's workspace (:func:`connector.api.scope.contact_visible`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select

from connector import model
from connector.api.scope import channel_visible, contact_visible
from connector.db.models import ChannelConnection, Contact, InboundMessage, OutboundMessage, ShopConnection
from connector.db.models_conversation import ConversationState, Handoff
from connector.db.models_inbox import InboxConversation
from connector.db.models_notify import OutboxEvent
from connector.serialization import from_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

#: Outbox kinds written by the bot and by people; every other kind is a notification.
BOT_KIND = "chat_reply"
PERSON_KIND = "agent_reply"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE_SIZE = 50
#: The outbox event that names who wrote a person's reply: ``written by <who>``.
AUTHOR_PREFIX = "written by "
#: The outbox key of the bot's reply ``n`` to inbound message ``id`` (:func:`connector.conversation.outbox.key`).
_CHAT_KEY = re.compile(r"^chat:(\d+):(\d+)$")
#: Sorts a row written at the same instant as a customer message after it.
_AFTER_INBOUND = 2**62


@dataclass(frozen=True, slots=True)
class Filters:
    """What the inbox list is narrowed to (every filter optional)."""

    needs_person: bool = False
    unread: bool = False
    channel_id: int | None = None
    shop_id: int | None = None
    limit: int = PAGE_SIZE
    offset: int = 0


@dataclass(slots=True)
class Summary:
    """One conversation in the list."""

    contact_id: int
    name: str
    user_id: str
    channel_id: int
    channel: str
    channel_name: str
    shop_id: int
    shop_name: str
    last_at: datetime | None
    unread: int
    needs_person: bool
    taken_over_by: str | None


@dataclass(slots=True)
class Entry:
    """One message of a thread: ``side`` is ``customer``, ``bot``, ``person`` or ``notification``."""

    side: str
    at: datetime
    text: str
    kind: str = ""
    status: str | None = None
    cost: float | None = None
    currency: str | None = None
    error: str | None = None
    message_id: int | None = None
    #: Who wrote a person's reply (the dashboard user's e-mail, or ``API token NAME``).
    author: str | None = None
    #: Where the entry goes in the thread (see :func:`thread`); not shown.
    position: tuple[datetime, int, int] = (EPOCH, 0, 0)


@dataclass(slots=True)
class Thread:
    """A whole conversation and where it stands."""

    summary: Summary
    entries: list[Entry] = field(default_factory=list)
    last_inbound_at: datetime | None = None
    #: While a handoff keeps the bot silent: until when (``None`` when the bot answers, or only a takeover holds it).
    silent_until: datetime | None = None
    #: The newest customer message shown (reading the thread marks it and those before it read).
    last_inbound_id: int | None = None


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _columns() -> list[Any]:
    """The list's columns: one row per visible contact who ever wrote, with its unread count and handoff state."""
    read_through = func.coalesce(InboxConversation.read_through, 0)
    settled_at = func.coalesce(InboxConversation.settled_at, literal(EPOCH, InboxConversation.settled_at.type))
    unread = (
        select(func.count(InboundMessage.id))
        .where(InboundMessage.contact_id == Contact.id, InboundMessage.id > read_through)
        .correlate(Contact, InboxConversation)
        .scalar_subquery()
    )
    last_handoff = (
        select(func.max(Handoff.created_at))
        .where(Handoff.contact_id == Contact.id)
        .correlate(Contact)
        .scalar_subquery()
    )
    last_at = (
        select(func.max(InboundMessage.received_at))
        .where(InboundMessage.contact_id == Contact.id)
        .correlate(Contact)
        .scalar_subquery()
    )
    return [
        Contact.id,
        Contact.name,
        Contact.channel_user_id,
        ChannelConnection.id.label("channel_id"),
        ChannelConnection.channel,
        ChannelConnection.name.label("channel_name"),
        ShopConnection.id.label("shop_id"),
        ShopConnection.name.label("shop_name"),
        last_at.label("last_at"),
        unread.label("unread"),
        and_(last_handoff.is_not(None), last_handoff > settled_at).label("needs_person"),
        InboxConversation.taken_over_by,
        InboxConversation.taken_over_at,
    ]


def _base() -> Any:
    return (
        select(*_columns())
        .join(ChannelConnection, ChannelConnection.id == Contact.channel_connection_id)
        .join(ShopConnection, ShopConnection.id == ChannelConnection.shop_connection_id)
        .outerjoin(InboxConversation, InboxConversation.contact_id == Contact.id)
        .where(contact_visible(Contact.id))
    )


def _summary(row: Any) -> Summary:
    return Summary(
        contact_id=row.id,
        name=row.name or "",
        user_id=row.channel_user_id,
        channel_id=row.channel_id,
        channel=row.channel,
        channel_name=row.channel_name,
        shop_id=row.shop_id,
        shop_name=row.shop_name,
        last_at=_aware(row.last_at),
        unread=int(row.unread or 0),
        needs_person=bool(row.needs_person),
        taken_over_by=(row.taken_over_by or "?") if row.taken_over_at is not None else None,
    )


def conversations(rt: Runtime, filters: Filters) -> tuple[list[Summary], int]:
    """The conversations matching ``filters`` (those needing a person first, then the latest), and how many
    match in all."""
    query = _base()
    conditions: list[ColumnElement[bool]] = [
        select(InboundMessage.id).where(InboundMessage.contact_id == Contact.id).exists()
    ]
    columns = {c.name: c for c in query.selected_columns}
    if filters.needs_person:
        conditions.append(columns["needs_person"])
    if filters.unread:
        conditions.append(columns["unread"] > 0)
    if filters.channel_id is not None:
        conditions.append(ChannelConnection.id == filters.channel_id)
    if filters.shop_id is not None:
        conditions.append(ShopConnection.id == filters.shop_id)
    query = query.where(*conditions)
    with rt.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(
            query.order_by(columns["needs_person"].desc(), columns["last_at"].desc(), Contact.id.desc())
            .limit(filters.limit)
            .offset(filters.offset)
        ).all()
    return [_summary(row) for row in rows], int(total)


def choices(rt: Runtime) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The visible channels and shops to filter by: ``(id, label)`` each."""
    with rt.db.session() as session:
        channels = session.execute(
            select(ChannelConnection.id, ChannelConnection.name, ChannelConnection.channel)
            .where(channel_visible(ChannelConnection.id))
            .order_by(ChannelConnection.id)
        ).all()
        shops = session.execute(
            select(ShopConnection.id, ShopConnection.name)
            .where(
                ShopConnection.id.in_(
                    select(ChannelConnection.shop_connection_id).where(channel_visible(ChannelConnection.id))
                )
            )
            .order_by(ShopConnection.id)
        ).all()
    return [(c.id, f"{c.name} ({c.channel})") for c in channels], [(s.id, s.name) for s in shops]


def find(session: Session, contact_id: int) -> Summary | None:
    """The conversation of ``contact_id`` if it is visible, else ``None``."""
    row = session.execute(_base().where(Contact.id == contact_id)).first()
    return _summary(row) if row is not None else None


def thread(rt: Runtime, contact_id: int) -> Thread | None:
    """The whole conversation of ``contact_id`` in true order (``None`` when it is not visible): what the customer
    sent, the bot's replies, notifications and people's replies, each outbound one with its status and cost."""
    with rt.db.session() as session:
        summary = find(session, contact_id)
        if summary is None:
            return None
        contact = session.get(Contact, contact_id)
        state = session.scalar(select(ConversationState).where(ConversationState.contact_id == contact_id))
        inbound = session.scalars(select(InboundMessage).where(InboundMessage.contact_id == contact_id)).all()
        outbound = session.scalars(
            select(OutboundMessage).where(
                or_(
                    OutboundMessage.contact_id == contact_id,
                    and_(
                        OutboundMessage.contact_id.is_(None),
                        OutboundMessage.channel_connection_id == summary.channel_id,
                        OutboundMessage.recipient == summary.user_id,
                    ),
                )
            )
        ).all()
        handoffs = session.scalars(select(Handoff).where(Handoff.contact_id == contact_id)).all()
        # True order. The channels stamp customer messages in whole seconds and our rows are stamped exactly, so
        # times alone would put a message before the bot's answer to the one before it (sent in the same second).
        # What answers a message is placed by that message: the handoff it asked for, then the bot's replies to it
        # (``chat:<inbound id>:<n>``) in order; people's replies and notifications go by the time they were written.
        asked = {row.id: _aware(row.received_at) or EPOCH for row in inbound}
        entries = [_inbound(row) for row in inbound]
        for h in handoffs:
            at = asked.get(h.inbound_message_id, _aware(h.created_at) or EPOCH)
            entries.append(Entry("event", at, h.reason, kind="handoff", position=(at, h.inbound_message_id, 1)))
        people = [row.id for row in outbound if row.kind == PERSON_KIND]
        events = select(OutboxEvent.message_id, OutboxEvent.detail).where(
            OutboxEvent.message_id.in_(people), OutboxEvent.detail.like(f"{AUTHOR_PREFIX}%")
        )
        authors = {message_id: detail for message_id, detail in session.execute(events)} if people else {}
        for row in outbound:
            entry = _outbound(row)
            written = authors.get(row.id)
            entry.author = written[len(AUTHOR_PREFIX) :] if written else None
            answered = _CHAT_KEY.match(row.idempotency_key or "")
            if answered and int(answered.group(1)) in asked:
                inbound_id = int(answered.group(1))
                entry.position = (asked[inbound_id], inbound_id, 2 + int(answered.group(2)))
            entries.append(entry)
        silent = _aware(state.silent_until) if state else None
        result = Thread(
            summary=summary,
            last_inbound_at=_aware(contact.last_inbound_at) if contact else None,
            silent_until=silent if silent is not None and silent > datetime.now(UTC) else None,
            last_inbound_id=max(asked, default=None),
        )
    result.entries = sorted(entries, key=lambda e: e.position)
    return result


def _inbound(row: InboundMessage) -> Entry:
    try:
        message = from_json(row.data)
    except Exception:  # a row an older version stored differently: show its type rather than fail the page
        message = None
    at = _aware(row.received_at) or EPOCH
    return Entry("customer", at, inbound_text(message, row.type), kind=row.type, position=(at, row.id, 0))


def _outbound(row: OutboundMessage) -> Entry:
    side = "bot" if row.kind == BOT_KIND else "person" if row.kind == PERSON_KIND else "notification"
    try:
        message = from_json(row.payload)
    except Exception:  # erased or an older shape
        message = None
    at = _aware(row.created_at) or EPOCH
    return Entry(
        side,
        at,
        outbound_text(message),
        kind=row.kind,
        status=row.status,
        cost=row.cost,
        currency=row.currency,
        error=row.error or row.reason,
        message_id=row.id,
        position=(at, _AFTER_INBOUND, row.id),
    )


def inbound_text(message: object, fallback: str = "") -> str:
    """What the customer sent, as one line of text."""
    if isinstance(message, model.InboundText | model.InboundCart) and message.text:
        return message.text
    if isinstance(message, model.InboundReply):
        return message.title or message.reply_id
    if isinstance(message, model.InboundCart):
        return ", ".join(f"{line.quantity} x {line.variant_external_id}" for line in message.lines) or "cart"
    if isinstance(message, model.InboundMedia):
        return message.caption or f"[{message.type}]"
    if isinstance(message, model.InboundLocation):
        return message.name or message.address or f"{message.latitude}, {message.longitude}"
    if isinstance(message, model.InboundOther):
        return f"[{message.type}]"
    return f"[{fallback}]" if fallback else ""


def outbound_text(message: object) -> str:
    """What was sent, as the customer reads it (in one line)."""
    inner = getattr(message, "message", None)
    if isinstance(inner, model.Outbound):  # a channel's envelope (Messenger's MetaSend)
        return outbound_text(inner)
    if isinstance(message, model.TemplateMessage):
        values = [str(getattr(p, "fallback", None) or getattr(p, "text", None) or p) for p in message.body_parameters]
        return f"{message.name} ({message.language})" + (f": {', '.join(values)}" if values else "")
    for name in ("body", "text"):
        value = getattr(message, name, None)
        if isinstance(value, str) and value:
            return value
    return type(message).__name__ if message is not None else ""
