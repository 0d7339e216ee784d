"""Contacts: consent with its proof, window state, subscriptions; GDPR export (JSON) and erasure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from sqlalchemy import delete, select, update

from connector.dashboard import queries
from connector.dashboard.security import login_required
from connector.db.models import Contact, InboundMessage, OutboundMessage
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime

ERASED = "erased"


def export_contact(rt: Runtime, contact_id: int) -> dict[str, Any] | None:
    """Everything stored about one contact, as JSON-ready data (GDPR Art. 15/20). ``None`` if unknown."""
    with rt.db.session() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            return None
        inbound = session.scalars(select(InboundMessage).where(InboundMessage.contact_id == contact_id))
        outbound = session.scalars(select(OutboundMessage).where(OutboundMessage.contact_id == contact_id))
        data: dict[str, Any] = {
            "contact": _row(contact),
            "inbound_messages": [_row(m) for m in inbound],
            "outbound_messages": [_row(m) for m in outbound],
            "consents": queries.extension_rows(session, "consent", contact_id),
            "subscriptions": queries.extension_rows(session, "subscription", contact_id),
            "exported_at": datetime.now(UTC).isoformat(),
        }
    return json.loads(json.dumps(data, default=str))


def erase_contact(rt: Runtime, contact_id: int) -> bool:
    """Erase a contact (GDPR Art. 17): their messages, their phone number in the outbox, the contact row.

    Unsent messages to them are cancelled (``skipped``), so nothing goes out after erasure. Rows of other
    subsystems that reference the contact go with it through their foreign keys.
    """
    with rt.db.session() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            return False
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.contact_id == contact_id, OutboundMessage.status.in_(("pending", "deferred")))
            .values(status="skipped", error="contact erased")
        )
        session.execute(
            update(OutboundMessage)
            .where(
                (OutboundMessage.contact_id == contact_id)
                | (
                    (OutboundMessage.channel_connection_id == contact.channel_connection_id)
                    & (OutboundMessage.recipient == contact.channel_user_id)
                )
            )
            .values(recipient=ERASED, payload={"erased": True}, contact_id=None)
        )
        session.execute(delete(InboundMessage).where(InboundMessage.contact_id == contact_id))
        session.delete(contact)
    return True


def _row(obj: Any) -> dict[str, Any]:
    return {column.key: getattr(obj, column.key) for column in obj.__table__.columns if column.key != "body"}


def register(bp: Blueprint) -> None:
    """Add the contacts page, the export and the erasure to the dashboard blueprint."""

    @bp.get("/contacts")
    @login_required
    def contacts() -> Any:
        """Contacts with consent, window state and subscriptions."""
        return render_template("dashboard/contacts.html", rows=queries.contacts(runtime()))

    @bp.get("/contacts/<int:contact_id>/export.json")
    @login_required
    def contact_export(contact_id: int) -> Response:
        """Download everything stored about one contact as JSON."""
        data = export_contact(runtime(), contact_id)
        if data is None:
            abort(404, description="no such contact")
        return Response(
            json.dumps(data, indent=2, ensure_ascii=False),
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'},
        )

    @bp.post("/contacts/<int:contact_id>/erase")
    @login_required
    def contact_erase(contact_id: int) -> Any:
        """Erase one contact and their messages."""
        if not erase_contact(runtime(), contact_id):
            abort(404, description="no such contact")
        flash("Contact erased.", "ok")
        return redirect(url_for("dashboard.contacts"))
