"""Acting in the inbox: a person replies (text inside the channel's window, else an approved template), takes the
conversation over from the bot, hands it back, and marks it read.

Replies go through the outbox (:func:`connector.chat.messages.queue_message`) with the kind ``agent_reply``: sent
exactly once (the idempotency key is the reply form's own key, so a double submit queues one message), priced by
the rate card in force and counted toward the daily budget, and never held back by it (a reply to a customer is
never dropped). The window rules are checked before anything is queued: free text only while the channel allows a
person to write (24 hours on WhatsApp; 7 days with Messenger's and Instagram's ``HUMAN_AGENT`` tag), never after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select, update

from connector import model
from connector.adapters import ApprovedTemplate, ChannelAdapter
from connector.chat.messages import queue_message
from connector.db import dml
from connector.db.models import ChannelConnection, Contact, InboundMessage, OutboundMessage
from connector.db.models_conversation import ConversationState
from connector.db.models_inbox import InboxConversation
from connector.errors import MessageLimitError, PlatformError
from connector.inbox.conversations import AUTHOR_PREFIX, PERSON_KIND, find
from connector.notify import policy, pricing
from connector.notify.outbox import record_event

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

#: Longest text a person may send (WhatsApp's text limit; the channel's own limits are checked too).
MAX_TEXT = 4096
#: How long hand-back waits for a message the bot is answering right now (its lease) before it gives up.
HAND_BACK_WAIT = 5.0


class InboxError(Exception):
    """A request the inbox refuses: ``status`` (400, 404, 409; 502 when the channel's platform cannot be asked)
    and the reason, shown to the person."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Window:
    """What a person may send to a contact now: free text (until when), and the price of a text reply."""

    inside_24h: bool
    text_allowed: bool
    text_until: datetime | None
    human_agent: bool
    templates: bool
    text_price: float
    currency: str


@dataclass(frozen=True, slots=True)
class PricedTemplate:
    """An approved template with what it costs to send to this contact now."""

    template: ApprovedTemplate
    price: float
    currency: str


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _load(session: Session, contact_id: int) -> tuple[Contact, ChannelConnection]:
    """The visible contact and its channel, or :class:`InboxError` 404 (another workspace's is "no such")."""
    if find(session, contact_id) is None:
        raise InboxError("no such conversation", 404)
    contact = session.get(Contact, contact_id)
    channel = session.get(ChannelConnection, contact.channel_connection_id) if contact else None
    if contact is None or channel is None:
        raise InboxError("no such conversation", 404)
    return contact, channel


def _adapter_class(rt: Runtime, channel: ChannelConnection) -> type[ChannelAdapter]:
    return rt.connections.channel_adapter_class(channel.channel)


def _price(rt: Runtime, session: Session, contact: Contact, category: str, inside: bool, templates: bool) -> float:
    """The rate card's price of one message of ``category`` to ``contact`` now (as the outbox will price it)."""
    if not templates:
        return 0.0  # Messenger and Instagram messages cost nothing
    settings = rt.config.notify
    now = datetime.now(UTC)
    entry = contact.id in pricing.entry_points(session, [contact.id], now, settings.free_entry_point_hours)
    country = pricing.country_of(contact.phone or contact.channel_user_id)
    return pricing.estimate(settings, category, country, inside_window=inside, at=now, entry_point=entry)


def _window(rt: Runtime, session: Session, contact: Contact, adapter: type[ChannelAdapter]) -> Window:
    now = datetime.now(UTC)
    last = _aware(contact.last_inbound_at)
    inside = last is not None and now - last < policy.WINDOW - policy.WINDOW_MARGIN
    hours = adapter.human_reply_hours
    until = last + timedelta(hours=hours) - policy.WINDOW_MARGIN if last is not None else None
    templates = model.TemplateMessage in adapter.supports
    return Window(
        inside_24h=inside,
        text_allowed=until is not None and now < until,
        text_until=until,
        human_agent=hours > policy.WINDOW.total_seconds() / 3600,
        templates=templates,
        text_price=_price(rt, session, contact, "service", inside, templates),
        currency=rt.config.notify.rate_card_currency,
    )


def window(rt: Runtime, contact_id: int) -> Window:
    """What a person may send to ``contact_id`` now."""
    with rt.db.session() as session:
        contact, channel = _load(session, contact_id)
        return _window(rt, session, contact, _adapter_class(rt, channel))


def templates(rt: Runtime, contact_id: int) -> list[PricedTemplate]:
    """The approved templates a person may send to ``contact_id``, each with its price now (from the channel's
    account: one Graph call, made outside any transaction)."""
    with rt.db.session() as session:
        _contact, channel = _load(session, contact_id)
        channel_id, adapter_cls = channel.id, _adapter_class(rt, channel)
    if model.TemplateMessage not in adapter_cls.supports:
        return []
    found = _approved(rt, channel_id)
    currency = rt.config.notify.rate_card_currency
    with rt.db.session() as session:
        contact, _channel = _load(session, contact_id)
        inside = _window(rt, session, contact, adapter_cls).inside_24h
        return [
            PricedTemplate(t, _price(rt, session, contact, t.category or "utility", inside, True), currency)
            for t in found
        ]


def _approved(rt: Runtime, channel_id: int) -> list[ApprovedTemplate]:
    """The channel account's approved templates; :class:`InboxError` 502 when the platform cannot be asked."""
    try:
        return rt.connections.channel_adapter(channel_id).approved_templates()
    except PlatformError as exc:
        raise InboxError(f"could not read the approved templates: {exc}", 502) from None


def reply(
    rt: Runtime,
    contact_id: int,
    *,
    key: str,
    author: str,
    text: str | None = None,
    template: str | None = None,
    language: str | None = None,
    parameters: list[str] | None = None,
    button_parameters: list[str] | None = None,
) -> int:
    """Queue a person's reply to ``contact_id`` and return its outbox row (the same row for the same ``key``).

    ``text``: free text, only while the channel lets a person write (else :class:`InboxError` 409 saying to pick a
    template). ``template`` (with ``language`` and its ``parameters``): an approved template of the channel's
    account, at any time."""
    if not key or len(key) > 100 or not key.replace("-", "").isalnum():
        raise InboxError("the reply needs a key of up to 100 letters, digits and dashes (the form sends one)")
    idempotency_key = f"inbox:{contact_id}:{key}"

    def known(session: Session) -> int | None:
        found = session.scalar(select(OutboundMessage.id).where(OutboundMessage.idempotency_key == idempotency_key))
        return int(found) if found is not None else None

    with rt.db.session() as session:
        _contact, channel = _load(session, contact_id)
        channel_id, adapter_cls = channel.id, _adapter_class(rt, channel)
        queued = known(session)
    if queued is not None:
        return queued  # the same form sent twice: one message
    # The channel's calls (its approved templates) happen outside any transaction.
    if bool(text and text.strip()) == bool(template):
        raise InboxError("send either a text or a template")
    adapter = rt.connections.channel_adapter(channel_id)
    approved = _approved(rt, channel_id) if template else []
    with rt.db.session() as session:
        contact, channel = _load(session, contact_id)
        allowed = _window(rt, session, contact, adapter_cls)
        message = _message(adapter_cls, allowed, approved, text, template, language, parameters, button_parameters)
        try:
            adapter.validate_message(message)
        except MessageLimitError as exc:
            raise InboxError(f"the channel would refuse this message: {exc}") from None
        queued = queue_message(
            rt,
            channel_connection_id=channel.id,
            recipient=contact.channel_user_id,
            message=message,
            kind=PERSON_KIND,
            idempotency_key=idempotency_key,
            contact_id=contact.id,
            session=session,
        )
        if queued is None:  # the same key, sent at the same moment by another request
            queued = known(session)
            assert queued is not None
            return queued
        record_event(session, queued, "pending", f"{AUTHOR_PREFIX}{author[:254]}")
        _settle(session, contact.id, read=True)
    rt.queue.notify()
    return queued


def _message(
    adapter_cls: type[ChannelAdapter],
    allowed: Window,
    approved: list[ApprovedTemplate],
    text: str | None,
    template: str | None,
    language: str | None,
    parameters: list[str] | None,
    button_parameters: list[str] | None,
) -> model.Outbound:
    if bool(text and text.strip()) == bool(template):
        raise InboxError("send either a text or a template")
    if text is not None and text.strip():
        body = text.strip()
        if len(body) > MAX_TEXT:
            raise InboxError(f"the text is longer than {MAX_TEXT} characters")
        if not allowed.text_allowed:
            if allowed.human_agent:
                raise InboxError(
                    f"the customer wrote more than 7 days ago: {adapter_cls.label} accepts no reply from a person "
                    "until they write again",
                    409,
                )
            raise InboxError(
                "the customer's 24-hour window is closed: free text would be refused; pick an approved template",
                409,
            )
        return adapter_cls.human_message(model.TextMessage(body=body), inside_window=allowed.inside_24h)
    if not allowed.templates:
        raise InboxError(f"{adapter_cls.label} has no message templates")
    found = [t for t in approved if t.name == template and (language is None or t.language == language)]
    if not found:
        raise InboxError(f"{template!r} is not an approved template of this number")
    chosen = found[0]
    values = [str(p).strip() for p in parameters or []]
    buttons = [str(p).strip() for p in button_parameters or []]
    if len(values) != chosen.parameters or not all(values):
        raise InboxError(f"template {chosen.name} takes {chosen.parameters} parameter(s), each filled in")
    if len(buttons) != chosen.button_parameters or not all(buttons):
        raise InboxError(f"template {chosen.name} takes {chosen.button_parameters} button parameter(s)")
    return model.TemplateMessage(
        name=chosen.name,
        language=chosen.language,
        body_parameters=list(values),
        button_parameters=buttons,
    )


def _row(session: Session, contact_id: int) -> InboxConversation:
    row = session.get(InboxConversation, contact_id)
    if row is None:
        row = InboxConversation(contact_id=contact_id)
        session.add(row)
    return row


def _settle(session: Session, contact_id: int, *, read: bool = False) -> None:
    """A person answered: the handoffs so far are answered (and, ``read``, the thread is read)."""
    row = _row(session, contact_id)
    row.settled_at = datetime.now(UTC)
    if read:
        _read(session, row, None)


def _read(session: Session, row: InboxConversation, through: int | None) -> None:
    newest = session.scalar(select(func.max(InboundMessage.id)).where(InboundMessage.contact_id == row.contact_id))
    seen = newest if through is None else min(through, newest or 0)
    if seen is not None and seen > (row.read_through or 0):
        row.read_through = seen


def mark_read(rt: Runtime, contact_id: int, through: int | None = None) -> None:
    """A person read the thread: its customer messages (up to ``through``, the newest one they were shown; all
    by default) are no longer unread."""
    with rt.db.session() as session:
        _load(session, contact_id)
        _read(session, _row(session, contact_id), through)


def take_over(rt: Runtime, contact_id: int, author: str) -> None:
    """A person takes the conversation over: the bot stays silent for this customer until :func:`hand_back`."""
    with rt.db.session() as session:
        _load(session, contact_id)
        row = _row(session, contact_id)
        if row.taken_over_at is None:
            row.taken_over_at = datetime.now(UTC)
            row.taken_over_by = author[:254]


def hand_back(rt: Runtime, contact_id: int) -> None:
    """Give the conversation back to the bot: no takeover, no handoff silence; the bot answers the next message.

    The handoff's silence lives in the conversation state, which the bot writes back when it finishes a message:
    it is cleared while no message holds the contact's lease (waiting up to :data:`HAND_BACK_WAIT` seconds)."""
    with rt.db.session() as session:
        _load(session, contact_id)
        row = _row(session, contact_id)
        row.taken_over_at = None
        row.taken_over_by = None
        _settle(session, contact_id)
    deadline = time.monotonic() + HAND_BACK_WAIT
    while True:
        now = datetime.now(UTC)
        with rt.db.session() as session:
            cleared = dml(
                session,
                update(ConversationState)
                .where(
                    ConversationState.contact_id == contact_id,
                    or_(ConversationState.locked_until.is_(None), ConversationState.locked_until < now),
                )
                .values(silent_until=None),
            ).rowcount
            exists = session.scalar(select(ConversationState.id).where(ConversationState.contact_id == contact_id))
        if cleared or exists is None:
            return
        if time.monotonic() > deadline:
            raise InboxError("the bot is answering a message of this customer right now: try again", 409)
        time.sleep(0.1)
