"""The inbox in a real browser (Chromium), against the connector on a real port and the Graph sandbox over HTTP.

An agent answers a customer who asked for a person, with the keyboard only; the customer's next message appears
without reloading; takeover silences the bot and hand-back brings it back; outside the 24-hour window only an
approved template goes, with its price; the pages fit a 390 px phone without horizontal scrolling.

With ``CONNECTOR_SCREENSHOTS=<folder>`` the test saves ``inbox.png`` there (``docs/img/`` holds the documentation's).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import func, select

from connector.dashboard.users import create_user
from connector.db.models import Contact, InboundMessage, OutboundMessage
from connector.db.models_conversation import Handoff

from .conftest import PASSWORD, Connected, follow, wait_until

CUSTOMER = "4915112345678"
AGENT = "agent@example.com"
SHOTS = os.environ.get("CONNECTOR_SCREENSHOTS")


def log_in_as(page: Any, connected: Connected, email: str) -> None:
    page.goto(connected.live.dashboard("/login"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Log in"))


def handled(connected: Connected, count: int) -> None:
    """Wait until the connector stored and handled the customer's first ``count`` messages (answered or not)."""
    rt = connected.live.runtime

    def done() -> bool:
        with rt.db.session() as session:
            stored = session.scalar(select(func.count()).select_from(InboundMessage)) or 0
            busy = session.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.status.in_(("pending", "sending")))
            )
        from connector.db.models import Task

        with rt.db.session() as session:
            open_tasks = session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.kind == "conversation.handle", Task.status.in_(("pending", "running")))
            )
        return stored >= count and not busy and not open_tasks

    wait_until(done, timeout=60, interval=0.2)


def tab_to(page: Any, element_id: str, limit: int = 80) -> None:
    """Press Tab until the element ``element_id`` has the focus (as a keyboard user moves through the page)."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} cannot be reached with the Tab key")


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width}px wide at 390px"


def test_an_agent_answers_a_customer_who_asked_for_a_person(connected: Connected, page: Any) -> None:
    rt, graph = connected.live.runtime, connected.graph
    create_user(rt, AGENT, PASSWORD, role="agent")
    graph.customer_text(None, CUSTOMER, "Hi", name="Erika Muster")
    handled(connected, 1)  # the bot answers with its menu
    graph.customer_text(None, CUSTOMER, "agent", name="Erika Muster")
    wait_until(lambda: _handoffs(connected), timeout=60)
    handled(connected, 2)
    before = len(graph.messages_to(CUSTOMER))

    log_in_as(page, connected, AGENT)
    follow(page, page.get_by_role("navigation", name="Menu").get_by_role("link", name="Inbox"))
    row = page.locator(".inbox-row", has_text="Erika Muster")
    assert "Needs a person" in row.inner_text() and "2 unread" in row.inner_text()
    follow(page, row.get_by_role("link"))
    page.locator("#thread .message.event").wait_for()
    sides = page.locator("#thread .message").evaluate_all("items => items.map(i => i.className)")
    # In true order: Hi, the menu, "agent", the handoff, the bot saying a person will answer.
    assert sides == ["message customer", "message bot", "message customer", "message event", "message bot"], (
        page.locator("#thread").inner_text()
    )
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / "inbox.png"), full_page=False)

    # Keyboard only: Tab to the reply box, type, Tab to Send, Enter.
    tab_to(page, "reply-text")
    page.keyboard.type("Hi Erika, Anna here. How can I help?")
    tab_to(page, "reply-send")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_text("Reply queued.").wait_for()
    person = page.locator("#thread .message.person", has_text="Anna here")
    assert AGENT in person.locator(".who").inner_text()  # who wrote it
    person.locator(".state.sent, .state.delivered, .state.read").wait_for()  # the poll shows the status change
    wait_until(lambda: len(graph.messages_to(CUSTOMER)) == before + 1)
    assert graph.messages_to(CUSTOMER)[-1]["text"]["body"] == "Hi Erika, Anna here. How can I help?"
    expect(page.locator(".needs-person")).to_have_count(0)  # answered

    # Take over: the customer's next message appears without reloading, and the bot stays silent.
    follow(page, page.get_by_role("button", name="Take over"))
    page.locator("#taken-over").wait_for()
    graph.customer_text(None, CUSTOMER, "Thanks, it is about my order", name="Erika Muster")
    page.locator("#thread .message.customer", has_text="about my order").wait_for()
    handled(connected, 3)
    assert len(graph.messages_to(CUSTOMER)) == before + 1
    # Hand back: the bot answers again.
    follow(page, page.get_by_role("button", name="Hand back to the bot"))
    page.get_by_text("The bot answers this customer.").wait_for()
    graph.customer_text(None, CUSTOMER, "Hi", name="Erika Muster")
    wait_until(lambda: len(graph.messages_to(CUSTOMER)) > before + 1)
    page.locator("#thread .message.bot").nth(2).wait_for()  # the menu again, shown without reloading

    page.set_viewport_size({"width": 390, "height": 844})
    no_horizontal_scroll(page)
    page.goto(connected.live.dashboard("/inbox"))
    no_horizontal_scroll(page)


def test_outside_the_window_the_owner_sends_a_template_with_its_price(connected: Connected, page: Any) -> None:
    rt, graph = connected.live.runtime, connected.graph
    graph.customer_text(None, CUSTOMER, "Where is my parcel?", name="Erika Muster")
    handled(connected, 1)
    with rt.db.session() as session:
        contact = session.scalar(select(Contact).where(Contact.channel_user_id == CUSTOMER))
        assert contact is not None and contact.last_inbound_at is not None
        contact.last_inbound_at -= timedelta(hours=25)
        contact_id = contact.id
    graph.advance_clock(25 * 3600)
    before = len(graph.messages_to(CUSTOMER))

    log_in_as(page, connected, "owner@example.com")
    page.goto(connected.live.dashboard(f"/inbox/{contact_id}"))
    assert "window is closed" in page.locator("#window-closed").inner_text()
    assert page.locator("#reply-text").count() == 0  # no free text outside the window
    page.get_by_label("Approved template").select_option(
        label=page.locator("#reply-template option", has_text="order_shipped").inner_text()
    )
    follow(page, page.get_by_role("button", name="Choose"))
    price = page.locator("#template-form .price").inner_text()
    assert "Estimated cost:" in price and "0.0000" not in price
    for number, value in ((1, "Erika"), (2, "#1001"), (3, "DHL")):
        page.get_by_label(f"Parameter {number}", exact=True).fill(value)
    page.get_by_label("Button parameter 1").fill("1001")
    follow(page, page.get_by_role("button", name="Send template"))
    page.get_by_text("Reply queued.").wait_for()
    wait_until(lambda: len(graph.messages_to(CUSTOMER)) == before + 1)
    sent = graph.messages_to(CUSTOMER)[-1]
    assert sent["type"] == "template" and sent["template"]["name"] == "order_shipped"
    page.locator("#thread .message.person", has_text="order_shipped").wait_for()
    page.set_viewport_size({"width": 390, "height": 844})
    no_horizontal_scroll(page)


def _handoffs(connected: Connected) -> int:
    with connected.live.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(Handoff)) or 0
