"""What the owner sees of issue #16's identity changes (real Flask app, real sandboxes, no browser): a customer who
hid their WhatsApp number behind a username is shown as such, not as a raw business-scoped user id, and the
webhook step of the wizard offers the app-level callback URL for a Meta app with many numbers."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from connector.db.models import Contact

from .conftest import Connected, wait_until
from .test_referral_views import logged_in, rows


def test_a_customer_with_a_hidden_number_is_shown_as_such(connected: Connected) -> None:
    graph = connected.graph
    rt = connected.live.runtime
    graph.control(
        "POST", "whatsapp/messages", json={"wa_id": "4915100008801", "type": "text", "text": "Hi", "hide_phone": True}
    )
    graph.customer_text(None, "4915100008802", "Hi", name="Paul Plain")

    def stored() -> bool:
        with rt.db.session() as session:
            return session.scalar(select(func.count()).select_from(Contact)) == 2

    wait_until(stored)
    with rt.db.session() as session:
        bsuid = session.scalar(select(Contact.user_id).where(Contact.phone.is_(None)))
    assert bsuid and bsuid.startswith("DE.")
    page = logged_in(connected).get("/dashboard/contacts").text
    shown = rows(page, "contact-row")
    [hidden] = [r for r in shown if "Number hidden" in r]
    assert "Number hidden (WhatsApp username) · DE" in hidden and bsuid not in hidden
    assert f'title="{bsuid}"' in page  # the id itself on hover, for support cases
    assert any("+4915100008802" in r for r in shown)


def test_the_wizard_shows_the_app_level_webhook_url(connected: Connected) -> None:
    page = logged_in(connected).get("/dashboard/setup/webhooks").text
    match = re.search(r'id="meta-app-hook" readonly value="([^"]+)"', page)
    assert match, "no app-level URL on the webhook step"
    assert html.unescape(match.group(1)) == connected.live.runtime.connections.meta_app_webhook_url()
    assert html.unescape(match.group(1)).endswith("/webhooks/meta")
