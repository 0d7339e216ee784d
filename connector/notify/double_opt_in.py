"""Double opt-in: a consent or back-in-stock subscription asked for on the web is only a *request* until the customer
confirms it on the channel.

A web form cannot prove whose number it was given, so it records a pending :class:`ConsentRequest` (with the form's
wording and the client address as the request's proof) and answers with the text the customer sends on WhatsApp to
confirm: a short message with the request's code (the click-to-chat widget prefills it). The customer's own message
carrying the code, or a tap on the "Yes" button of the question sent in their open 24-hour window, grants the
consent with that channel message as proof and activates the request's pending subscriptions. WhatsApp allows
business-initiated messages only to people who opted in, so no template is sent to an unconfirmed number: outside
the window the customer confirms by writing to the business. Unconfirmed requests expire after
``[notify] double_opt_in_expiry_hours``; a STOP cancels them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from connector import model
from connector.chat.messages import queue_message
from connector.db.models import ChannelConnection, Contact
from connector.db.models_notify import BackInStockSubscription, ConsentRequest
from connector.notify.consent import record_opt_in, stopped_on_channel
from connector.notify.outbox import language_of
from connector.notify.policy import window_open
from connector.notify.render import Renderer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

CODE_PREFIX = "OPTIN-"
#: Letters and digits that cannot be misread (no 0/O, 1/I).
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE = re.compile(r"\bOPTIN-([A-Z0-9]{6})\b", re.IGNORECASE)
#: The id of the "Yes" button of the confirmation question: ``consent:confirm:<request id>``.
BUTTON_PREFIX = "consent:confirm:"


@dataclass(frozen=True)
class Requested:
    """A pending request as the web form's answer shows it."""

    id: int
    code: str
    confirm_text: str
    expires_at: datetime


def find_code(text: str) -> str | None:
    """The confirmation code in a customer's message (``OPTIN-K7Q2PX``), upper-cased, or ``None``."""
    found = _CODE.search(text or "")
    return CODE_PREFIX + found.group(1).upper() if found else None


def is_confirmation(message: model.Inbound) -> bool:
    """True when the message confirms (or tries to confirm) a request: a text with a code, or the "Yes" button."""
    if isinstance(message, model.InboundText):
        return find_code(message.text) is not None
    return isinstance(message, model.InboundReply) and message.reply_id.startswith(BUTTON_PREFIX)


def _render(rt: Runtime, kind: str, channel: str, language: str, **variables: object) -> dict[str, str]:
    return Renderer.for_runtime(rt).render(kind, channel, language, dict(variables))


def request(
    rt: Runtime,
    session: Session,
    *,
    contact: Contact,
    purposes: list[str],
    source: str,
    text: str,
    client: str,
) -> Requested:
    """A pending request for ``purposes`` (the same pending one again when the form is sent twice)."""
    now = datetime.now(UTC)
    joined = ",".join(sorted(set(purposes)))
    row = session.scalar(
        select(ConsentRequest)
        .where(
            ConsentRequest.contact_id == contact.id,
            ConsentRequest.status == "pending",
            ConsentRequest.purposes == joined,
            ConsentRequest.text == text,
            ConsentRequest.expires_at > now,
        )
        .order_by(ConsentRequest.id.desc())
        .limit(1)
    )
    if row is None:
        row = ConsentRequest(
            contact_id=contact.id,
            purposes=joined,
            code=CODE_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(6)),
            status="pending",
            source=source[:200],
            text=text,
            client=client[:64],
            created_at=now,
            expires_at=now + timedelta(hours=rt.config.notify.double_opt_in_expiry_hours),
        )
        session.add(row)
        session.flush()
    language = language_of(contact, rt.config.notify.default_language)
    confirm_text = _render(rt, "consent_code", "whatsapp", language, code=row.code)["body"]
    return Requested(id=row.id, code=row.code, confirm_text=confirm_text, expires_at=row.expires_at)


def prompt(rt: Runtime, request_id: int) -> bool:
    """Ask the customer to confirm with a "Yes" button, once, if their 24-hour window is open (a free-form service
    message; outside it WhatsApp allows nothing but templates to people who opted in). Never after their STOP."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        row = session.get(ConsentRequest, request_id)
        if row is None or row.status != "pending" or row.prompted_at is not None:
            return False
        contact = session.get(Contact, row.contact_id)
        if contact is None or not window_open(contact, now):
            return False
        if any(stopped_on_channel(session, contact.id, p) for p in row.purposes.split(",")):
            return False
        row.prompted_at = now
        # Read here: another session would wait for this one's write lock on SQLite.
        channel = session.get(ChannelConnection, contact.channel_connection_id).channel  # type: ignore[union-attr]
        # The question names the purposes in our own words: the form's text is the requester's, not to be echoed.
        language = language_of(contact, rt.config.notify.default_language)
        texts = _render(rt, "consent_prompt", channel, language, purposes=row.purposes.split(","))
        message = model.ButtonsMessage(
            body=texts["body"], buttons=[model.Button(id=f"{BUTTON_PREFIX}{row.id}", title=texts["button"])]
        )
        queue_message(
            rt,
            channel_connection_id=contact.channel_connection_id,
            recipient=contact.channel_user_id,
            message=message,
            kind="consent_prompt",
            idempotency_key=f"consent-prompt:{row.id}",
            contact_id=contact.id,
            session=session,
        )
    rt.queue.notify()
    return True


def _find(session: Session, contact_id: int, message: model.Inbound) -> ConsentRequest | None:
    if isinstance(message, model.InboundText):
        query = select(ConsentRequest).where(ConsentRequest.code == find_code(message.text))
    else:
        raw = message.reply_id.removeprefix(BUTTON_PREFIX)  # type: ignore[attr-defined]
        if not raw.isdigit():
            return None
        query = select(ConsentRequest).where(ConsentRequest.id == int(raw))
    # Only the number the request was made for can confirm it: the code is no secret from whoever filled the form.
    return session.scalar(query.where(ConsentRequest.contact_id == contact_id))


def _activate(rt: Runtime, session: Session, request_id: int, now: datetime) -> None:
    """The request's pending subscriptions become active (or end, when the variant is already subscribed)."""
    expires = now + timedelta(days=rt.config.notify.back_in_stock_expiry_days)
    pending = session.scalars(
        select(BackInStockSubscription).where(
            BackInStockSubscription.consent_request_id == request_id, BackInStockSubscription.status == "pending"
        )
    )
    for sub in pending:
        key = f"{sub.contact_id}:{sub.shop_connection_id}:{sub.variant_external_id}"
        if session.scalar(select(BackInStockSubscription.id).where(BackInStockSubscription.active_key == key)):
            sub.status, sub.ended_at = "cancelled", now
        else:
            sub.status, sub.active_key, sub.expires_at = "active", key, expires
        session.flush()


def handle(rt: Runtime, channel_connection_id: int, message: model.Inbound) -> bool:
    """Confirm the request a customer's message names and answer in chat; False when the message confirms nothing."""
    if not is_confirmation(message):
        return False
    now = datetime.now(UTC)
    with rt.db.session() as session:
        contact = session.scalar(
            select(Contact).where(
                Contact.channel_connection_id == channel_connection_id,
                Contact.channel_user_id == message.sender.channel_user_id,
            )
        )
        if contact is None:
            return False
        row = _find(session, contact.id, message)
        said = getattr(message, "text", "") or getattr(message, "title", "")
        if row is not None and row.status == "pending" and row.expires_at <= now:
            expire(session, now)
            session.refresh(row)
        if row is None or row.status not in ("pending", "confirmed"):
            kind = "consent_unknown"
        else:
            kind = "consent_confirmed"
            if row.status == "pending":
                proof = f"message {message.message_id} from {contact.channel_user_id}: {said!r}"
                for purpose in row.purposes.split(","):
                    record_opt_in(
                        rt,
                        contact_id=contact.id,
                        purpose=purpose,
                        source=f"double_opt_in:{row.id}",
                        text=f"{row.text}\nConfirmed on the channel by the customer's {proof}",
                        session=session,
                        on_channel=True,
                    )
                row.status, row.confirmed_at, row.confirmation = "confirmed", now, proof
                _activate(rt, session, row.id, now)
        language = language_of(contact, rt.config.notify.default_language)
        contact_id, recipient = contact.id, contact.channel_user_id
    channel = rt.connections.get_channel(channel_connection_id).channel
    queue_message(
        rt,
        channel_connection_id=channel_connection_id,
        recipient=recipient,
        message=model.TextMessage(body=_render(rt, kind, channel, language)["body"]),
        kind=kind,
        idempotency_key=f"consent:{channel_connection_id}:{message.message_id}",
        contact_id=contact_id,
    )
    return True


def expire(session: Session, now: datetime) -> None:
    """Unconfirmed requests past their time expire, and so do their pending subscriptions."""
    session.execute(
        update(ConsentRequest)
        .where(ConsentRequest.status == "pending", ConsentRequest.expires_at <= now)
        .values(status="expired")
    )
    session.execute(
        update(BackInStockSubscription)
        .where(BackInStockSubscription.status == "pending", BackInStockSubscription.expires_at <= now)
        .values(status="expired", ended_at=now)
    )


def cancel(session: Session, contact_id: int) -> None:
    """A STOP: the contact's pending requests end unconfirmed (a later code is answered as unknown)."""
    session.execute(
        update(ConsentRequest)
        .where(ConsentRequest.contact_id == contact_id, ConsentRequest.status == "pending")
        .values(status="cancelled")
    )
