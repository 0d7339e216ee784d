"""The click-to-chat website widget in a real browser: it asks for consent, opens WhatsApp with the confirmation
prefilled, and consent counts only once the customer sends it (double opt-in)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connector.notify.consent import has_consent
from connector.notify.contacts import contact_for_phone

from .conftest import Connected, log_in, wait_until

PHONE = "4915199900022"


def test_the_widget_opens_whatsapp_with_the_confirmation_and_the_customers_message_grants(
    connected: Connected, page: Any
) -> None:
    live = connected.live
    log_in(page, live)
    page.goto(live.dashboard("/click-to-chat"))
    assert "double opt-in" in page.locator(f"#c2c-{connected.channel_id}").inner_text()
    widget = page.locator("textarea.widget").input_value()

    # A shop's page with the widget pasted in (served on the connector's host: Chromium keeps pages of other
    # origins from calling a loopback address); WhatsApp itself is not reached, only recorded.
    shop_page = live.url + "/shop/contact"
    page.route(
        shop_page,
        lambda route: route.fulfill(status=200, content_type="text/html", body=f"<html><body>{widget}</body></html>"),
    )
    page.route("https://wa.me/**", lambda route: route.fulfill(body="WhatsApp"))
    page.goto(shop_page)
    page.get_by_label("Your WhatsApp number").fill("+49 151 999 000 22")
    page.get_by_role("checkbox").check()
    with page.expect_request(re.compile(r"^https://wa\.me/")) as whatsapp:
        page.get_by_role("button", name="Chat with us on WhatsApp").click()

    link = urlsplit(whatsapp.value.url)
    number = re.sub(r"\D", "", connected.graph.connection_settings()["display_phone_number"])
    assert link.path == f"/{number}"
    [text] = parse_qs(link.query)["text"]
    assert "OPTIN-" in text
    rt = live.runtime
    with rt.db.session() as session:
        contact = contact_for_phone(session, connected.shop_id, PHONE)
        assert contact is not None
        contact_id = contact.id
    assert not has_consent(rt, contact_id, "marketing")  # ticking the box asked; it granted nothing

    connected.graph.customer_text(None, PHONE, text)  # the customer sends the prefilled message
    wait_until(lambda: has_consent(rt, contact_id, "marketing") and has_consent(rt, contact_id, "utility"))
