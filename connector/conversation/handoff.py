"""Human handoff: the bot goes silent for ``[chat] handoff_silence_minutes`` and the shop owner is told.

The handoff row is written in the same transaction as the conversation state and the customer's
reply, together with a ``conversation.notify_owner`` task; the task emails ``[chat] owner_email``
and/or POSTs JSON to ``[chat] owner_webhook_url`` and records the outcome on the row (retried
with backoff when the mail server or webhook fails).
"""

from __future__ import annotations

import logging
import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import update
from sqlalchemy.orm import Session

from connector import model
from connector.conversation import texts
from connector.db.models import ChannelConnection, Contact
from connector.db.models_conversation import Handoff
from connector.i18n import formatting

if TYPE_CHECKING:
    from connector.conversation.intents import ChatContext
    from connector.runtime import Runtime
    from connector.work.registry import TaskContext

log = logging.getLogger(__name__)

#: Whole messages that ask for a person, German and English.
KEYWORDS = frozenset({"agent", "human", "person", "mitarbeiter", "mitarbeiterin", "mensch", "support"})


def asks_for_person(text: str) -> bool:
    """Whether ``text`` asks for a person ("agent", "Mitarbeiter", ...)."""
    words = text.strip().casefold().strip("!?.").split()
    return len(words) <= 3 and any(w in KEYWORDS for w in words)


def start(ctx: ChatContext, reason: str) -> list[model.Outbound]:
    """Hand the conversation over: silence the bot and tell the customer. The owner is told by :func:`record`."""
    minutes = ctx.runtime.config.chat.handoff_silence_minutes
    ctx.conversation.clear()
    ctx.conversation.silent_until = datetime.now(UTC) + timedelta(minutes=minutes)
    ctx.conversation.data["handoff_reason"] = reason
    return [model.TextMessage(ctx.t("handoff_started"))]


def record(rt: Runtime, session: Session, ctx: ChatContext, reason: str) -> None:
    """Store the handoff and enqueue the owner notification, in the caller's transaction."""
    text = ctx.message.text if isinstance(ctx.message, model.InboundText) else getattr(ctx.message, "title", "")
    row = Handoff(
        contact_id=ctx.contact_id,
        channel_connection_id=ctx.channel_connection_id,
        inbound_message_id=ctx.inbound_id,
        reason=reason,
        text=text or "",
        silent_until=ctx.conversation.silent_until or datetime.now(UTC),
        notify_status="pending",
    )
    session.add(row)
    session.flush()
    rt.queue.enqueue(
        "conversation.notify_owner",
        {"handoff_id": row.id},
        session=session,
        priority=40,
        idempotency_key=f"conversation.notify_owner:{row.id}",
    )


def _details(rt: Runtime, handoff: Handoff) -> dict[str, Any]:
    with rt.db.session() as session:
        contact = session.get(Contact, handoff.contact_id)
        channel = session.get(ChannelConnection, handoff.channel_connection_id)
    return {
        "handoff_id": handoff.id,
        "contact": (contact.name if contact else "") or (contact.phone if contact else "") or "?",
        "user_id": contact.channel_user_id if contact else "",
        "phone": contact.phone if contact else None,
        "channel": channel.channel if channel else "",
        "channel_connection_id": handoff.channel_connection_id,
        "reason": handoff.reason,
        "text": handoff.text,
        "until": handoff.silent_until.isoformat(timespec="minutes"),
    }


def notify_owner(ctx: TaskContext, handoff_id: int) -> None:
    """Task ``conversation.notify_owner``: email and/or webhook the owner about a handoff (once)."""
    rt = ctx.runtime
    settings = rt.config.chat
    with rt.db.session() as session:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None or handoff.notify_status in ("notified", "none"):
            return
    if not settings.owner_email and not settings.owner_webhook_url:
        _set(rt, handoff_id, notify_status="none")
        return
    details = _details(rt, handoff)
    language = settings.default_language
    if settings.owner_webhook_url:
        response = requests.post(settings.owner_webhook_url, json={"event": "chat.handoff", **details}, timeout=10)
        response.raise_for_status()  # retried by the worker with backoff
    if settings.owner_email:
        # The webhook keeps the ISO time; the email says it the owner's way, with the day, in [chat] time_zone.
        until = formatting.date_time(handoff.silent_until, language, settings.time_zone)
        message = EmailMessage()
        message["Subject"] = texts.render(rt, "owner_handoff_subject", language, **details)
        message["From"] = settings.smtp_from
        message["To"] = settings.owner_email
        message.set_content(texts.render(rt, "owner_handoff_body", language, **{**details, "until": until}))
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    _set(rt, handoff_id, notify_status="notified", notified_at=datetime.now(UTC), error=None)


def _set(rt: Runtime, handoff_id: int, **values: Any) -> None:
    with rt.db.session() as session:
        session.execute(update(Handoff).where(Handoff.id == handoff_id).values(**values))
