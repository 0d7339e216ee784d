"""Roles in a real browser: an agent lands on the contacts, sees only what they may open (the inbox and the
contacts), and is refused the rest."""

from __future__ import annotations

from typing import Any

from connector.dashboard.users import create_user
from connector.db.models import Contact

from .conftest import PASSWORD, Connected


def test_an_agent_lands_on_the_contacts_and_is_refused_owner_pages(connected: Connected, page: Any) -> None:
    live = connected.live
    create_user(live.runtime, "agent@example.com", PASSWORD, role="agent")
    with live.runtime.db.session() as session:
        session.add(Contact(channel_connection_id=connected.channel_id, channel_user_id="4915100000444", name="Ada"))
    page.goto(live.dashboard("/login"))
    page.get_by_label("E-mail").fill("agent@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live.dashboard("/contacts"))
    menu = page.get_by_role("navigation", name="Menu")
    assert [link.inner_text() for link in menu.get_by_role("link").all()] == ["Inbox", "Contacts"]
    assert page.get_by_role("cell", name="Ada").is_visible()
    assert page.get_by_role("link", name="Export (JSON)").count() == 0
    assert page.get_by_role("button", name="Erase").count() == 0
    response = page.goto(live.dashboard("/catalog"))
    assert response is not None and response.status == 403
    assert "agents may only use the inbox and the contacts page" in page.locator("main").inner_text()
