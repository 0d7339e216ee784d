"""Everything held about one contact, as JSON-ready data (GDPR Art. 15 access, Art. 20 portability)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connector.dashboard import queries
from connector.db.models import Contact, InboundMessage, OutboundMessage, WebhookEvent
from connector.db.models_conversation import ChatOrder, ChatReply, ConversationState, Handoff
from connector.db.models_inbox import InboxConversation
from connector.db.models_notify import OutboxEvent
from connector.privacy.lookup import identify, webhook_events_about

if TYPE_CHECKING:
    from connector.runtime import Runtime

#: Columns that say nothing about the person (leases, bookkeeping) or are shown in another form.
_SKIP = {"locked_until", "subjects", "body"}


def row_json(obj: Any) -> dict[str, Any]:
    """One ORM row as a dict of its columns (decrypted)."""
    return {column.key: getattr(obj, column.key) for column in obj.__table__.columns if column.key not in _SKIP}


def _payload(event: WebhookEvent) -> dict[str, Any]:
    """A stored webhook with its payload, as JSON when it is JSON."""
    text = event.body.decode("utf-8", "replace")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    return {**row_json(event), "headers": None, "body": body}


def export_contact(rt: Runtime, contact_id: int) -> dict[str, Any] | None:
    """Everything stored about one contact: the contact, conversation state and addresses, messages both ways
    with their delivery timelines, chat orders, handoffs, the inbox's state (read, taken over), consent with its history, subscriptions, and the webhook
    payloads that name them. ``None`` if unknown."""
    with rt.db.session() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            return None
        person = identify(session, contact)
        state = session.scalar(select(ConversationState).where(ConversationState.contact_id == contact_id))
        orders = list(session.scalars(select(ChatOrder).where(ChatOrder.contact_id == contact_id)))
        inbound = session.scalars(
            select(InboundMessage).where(InboundMessage.contact_id == contact_id).order_by(InboundMessage.id)
        )
        outbound = list(
            session.scalars(
                select(OutboundMessage).where(OutboundMessage.contact_id == contact_id).order_by(OutboundMessage.id)
            )
        )
        timelines: dict[int, list[dict[str, Any]]] = {}
        for event in session.scalars(
            select(OutboxEvent).where(OutboxEvent.message_id.in_([m.id for m in outbound])).order_by(OutboxEvent.id)
        ):
            timelines.setdefault(event.message_id, []).append(
                {"status": event.status, "detail": event.detail, "at": event.at}
            )
        addresses = [state.address] if state is not None and state.address else []
        addresses += [o.cart["address"] for o in orders if isinstance(o.cart.get("address"), dict)]
        data: dict[str, Any] = {
            "contact": row_json(contact),
            "conversation": row_json(state) if state is not None else None,
            "addresses": addresses,
            "chat_orders": [row_json(o) for o in orders],
            "inbound_messages": [row_json(m) for m in inbound],
            "outbound_messages": [row_json(m) | {"timeline": timelines.get(m.id, [])} for m in outbound],
            "chat_replies": [
                row_json(r) for r in session.scalars(select(ChatReply).where(ChatReply.contact_id == contact_id))
            ],
            "handoffs": [row_json(h) for h in session.scalars(select(Handoff).where(Handoff.contact_id == contact_id))],
            "inbox": row_json(inbox) if (inbox := session.get(InboxConversation, contact_id)) is not None else None,
            "consents": queries.extension_rows(session, "consent", contact_id),
            "subscriptions": queries.extension_rows(session, "subscription", contact_id),
            "webhook_payloads": [_payload(e) for e in webhook_events_about(session, rt.secrets, person)],
            "exported_at": datetime.now(UTC).isoformat(),
        }
    return json.loads(json.dumps(data, default=str))
