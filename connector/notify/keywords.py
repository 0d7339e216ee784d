"""STOP/START keywords and the "Stop alerts" button: consent changes that take effect at once, confirmed in chat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from connector import model
from connector.chat.messages import queue_message
from connector.db.models import Contact
from connector.notify import back_in_stock, double_opt_in
from connector.notify.consent import PURPOSES, keyword_action, record_opt_in, record_opt_out
from connector.notify.outbox import language_of
from connector.notify.render import Renderer

if TYPE_CHECKING:
    from connector.runtime import Runtime

STOP_ALERTS_IDS = frozenset({"notify:stop-alerts"})
STOP_ALERTS_TITLES = frozenset({"stop alerts", "keine hinweise"})


def action_for(message: model.Inbound) -> tuple[str, tuple[str, ...]] | None:
    """What an inbound message asks for: (``stop``|``start``, purposes), or ``None``."""
    if isinstance(message, model.InboundText):
        action = keyword_action(message.text)
        return (action, PURPOSES) if action else None
    if isinstance(message, model.InboundReply) and (
        message.reply_id in STOP_ALERTS_IDS or message.title.strip().lower() in STOP_ALERTS_TITLES
    ):
        return "stop", ("marketing",)
    return None


def answered_here(message: model.Inbound) -> bool:
    """True for the messages the notify subsystem answers (the chat bot stays silent on them): a STOP/START
    keyword, a "Stop alerts" tap, or a double opt-in confirmation."""
    return action_for(message) is not None or double_opt_in.is_confirmation(message)


def handle(rt: Runtime, channel_connection_id: int, message: model.Inbound) -> bool:
    """Apply a STOP/START keyword or a "Stop alerts" tap and confirm it; False when the message is neither."""
    found = action_for(message)
    if found is None:
        return False
    action, purposes = found
    with rt.db.session() as session:
        contact = session.scalar(
            select(Contact).where(
                Contact.channel_connection_id == channel_connection_id,
                Contact.channel_user_id == message.sender.channel_user_id,
            )
        )
        if contact is None:
            return False
        said = getattr(message, "text", "") or getattr(message, "title", "")
        for purpose in purposes:
            if action == "stop":
                record_opt_out(
                    rt,
                    contact_id=contact.id,
                    purpose=purpose,
                    source="keyword",
                    text=said,
                    session=session,
                    on_channel=True,
                )
            else:
                record_opt_in(
                    rt,
                    contact_id=contact.id,
                    purpose=purpose,
                    source="keyword",
                    text=f"The customer wrote {said!r} to opt in again.",
                    session=session,
                    on_channel=True,
                )
        if action == "stop":
            double_opt_in.cancel(session, contact.id)
        language = language_of(contact, rt.config.notify.default_language)
        contact_id, recipient = contact.id, contact.channel_user_id
    if action == "stop":
        back_in_stock.cancel(rt, contact_id)
    channel = rt.connections.get_channel(channel_connection_id).channel
    kind = "consent_stopped" if action == "stop" else "consent_started"
    text = Renderer.for_runtime(rt).render(kind, channel, language, {})["body"]
    queue_message(
        rt,
        channel_connection_id=channel_connection_id,
        recipient=recipient,
        message=model.TextMessage(body=text),
        kind=kind,
        idempotency_key=f"consent:{channel_connection_id}:{message.message_id}",
        contact_id=contact_id,
    )
    return True
