"""Contacts: consent with its proof, window state, subscriptions; GDPR export (JSON) and erasure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for

from connector.api.scope import is_visible
from connector.dashboard import paging, queries
from connector.dashboard.security import login_required
from connector.i18n.catalogs import N_
from connector.privacy.erase import erase_contact
from connector.privacy.export import export_contact
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime


#: What each consent purpose and source means to a shop owner (the stored values are codes).
CONSENT_PURPOSES = {"utility": N_("Order updates"), "marketing": N_("Back-in-stock and offers")}
CONSENT_SOURCES = {
    "chat_order": N_("an order in the chat"),
    "chat_button": N_("a button in the chat"),
    "public_form": N_("the shop's sign-up form"),
    "admin_api": N_("the API"),
    "keyword": N_("a keyword (START / STOP)"),
}


def _visible(rt: Runtime, contact_id: int) -> bool:
    """Whether the contact exists in the user's workspace (another workspace's contact is "no such contact")."""
    with rt.db.session() as session:
        return is_visible(session, "contact", contact_id)


def register(bp: Blueprint) -> None:
    """Add the contacts page, the export and the erasure to the dashboard blueprint."""

    @bp.get("/contacts")
    @login_required
    def contacts() -> Any:
        """Contacts with consent, window state and subscriptions: searched, filtered by shop, one page at a time."""
        rt = runtime()
        return render_template(
            "dashboard/contacts.html",
            page=queries.contacts(rt, paging.listing()),
            shops=queries.visible_shops(rt),
            purposes=CONSENT_PURPOSES,
            sources=CONSENT_SOURCES,
        )

    @bp.get("/contacts/<int:contact_id>/export.json")
    @login_required
    def contact_export(contact_id: int) -> Response:
        """Download everything stored about one contact as JSON."""
        rt = runtime()
        data = export_contact(rt, contact_id) if _visible(rt, contact_id) else None
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
        rt = runtime()
        if not _visible(rt, contact_id) or not erase_contact(rt, contact_id):
            abort(404, description="no such contact")
        flash(N_("Contact erased."), "ok")
        return redirect(url_for("dashboard.contacts"))
