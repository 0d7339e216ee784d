"""Every dashboard page in a real browser, showing real data from a connected, synced demo stack.

With ``CONNECTOR_SCREENSHOTS=<folder>`` the test also saves a screenshot of each page there
(``docs/img/`` holds the ones in the documentation).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from connector import model
from connector.api.auth import create_token
from connector.chat.messages import queue_message, send_test_message
from connector.dashboard.paging import PAGE_SIZE
from connector.db.models import CatalogItem, Contact, OutboundMessage, ShopVariant

from .conftest import Connected, follow, log_in, wait_until

CUSTOMER = "4915112345678"
SHOTS = os.environ.get("CONNECTOR_SCREENSHOTS")


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)


def in_stock_title(connected: Connected) -> str:
    """The title of the product :func:`activity` puts in the cart."""
    graph = connected.graph
    items = graph.catalog_items(graph.connection_settings()["catalog_id"])
    return str(next(i for i in items if i["availability"] == "in stock")["title"])


def activity(connected: Connected) -> None:
    """A customer chats and sends a cart, a test message goes out, a product breaks our checks."""
    rt = connected.live.runtime
    graph = connected.graph
    graph.customer_text(None, CUSTOMER, "Hi", name="Erika Muster")
    in_stock = next(
        i for i in graph.catalog_items(graph.connection_settings()["catalog_id"]) if i["availability"] == "in stock"
    )
    graph.customer_cart(None, CUSTOMER, [(in_stock["id"] if "id" in in_stock else in_stock["retailer_id"], 2)])
    send_test_message(rt, connected.channel_id, "+49 170 00000001", template="hello_world")
    queue_message(
        rt,
        channel_connection_id=connected.channel_id,
        recipient="4917000000002",
        message=model.TextMessage(body="outside the window"),
        kind="order_shipped",
        idempotency_key="pages-test-refused",
    )

    def settled() -> bool:
        with rt.db.session() as session:
            carts = session.scalar(select(func.count()).select_from(Contact))
            busy = session.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.status.in_(("pending", "sending")))
            )
        return bool(carts) and not busy

    wait_until(settled)


def test_every_page_renders_real_data(connected: Connected, page: Any) -> None:
    live = connected.live
    rt = live.runtime
    activity(connected)
    with rt.db.session() as session:
        variants = session.scalar(select(func.count()).select_from(ShopVariant))
        synced = session.scalar(select(func.count()).select_from(CatalogItem).where(CatalogItem.status == "synced"))
    log_in(page, live)
    page.wait_for_url(live.dashboard("/"))

    # overview: sync health, messages today, cost, orders from chat
    assert page.locator("tr.shop-row").count() == 1
    assert f"synced {synced}" in page.locator("tr.shop-row").inner_text()
    assert int(page.locator("#messages-today").inner_text()) >= 2
    assert page.locator("#orders-today").inner_text() == "1"
    assert page.locator("#cost-today").inner_text().startswith("€")  # Babel's English money format: "€0.17"
    assert "131047" in page.locator("ul.errors").inner_text()  # the refused message, with Meta's reason
    shot(page, "overview")

    follow(page, page.get_by_role("link", name="Catalog", exact=True))
    # One page of PAGE_SIZE items, the rest behind "Next page" (it was every variant on one page).
    assert page.locator("tr.item-row").count() == min(variants, PAGE_SIZE)
    assert page.locator("tr.item-row .state.synced").count() == min(synced, PAGE_SIZE)
    assert page.get_by_role("link", name="Next page").count() == (1 if variants > PAGE_SIZE else 0)
    shot(page, "catalog")

    follow(page, page.get_by_role("link", name="Contacts", exact=True))
    row = page.locator("tr.contact-row", has_text=CUSTOMER)
    assert "open until" in row.inner_text()
    assert row.locator("td.window time.local").count() == 1 and "<time" not in row.inner_text()  # a date, not markup
    # Consent as a readable timeline (it was a key/value dump): the purpose, agreed, how, and the customer's words.
    consent = row.locator("ol.consent-timeline li.granted").first
    assert "Order updates" in consent.inner_text() and "agreed" in consent.inner_text()
    assert "an order in the chat" in consent.inner_text()
    assert consent.locator("blockquote.words").inner_text().strip()
    assert consent.locator("time.local").count() == 1  # when, with the day, in the viewer's time zone
    shot(page, "contacts")

    follow(page, page.get_by_role("link", name="Notifications", exact=True))
    test_row = page.locator("tr.message-row", has_text="4917000000001")
    assert test_row.locator(".state.delivered, .state.read, .state.sent").count() >= 1  # the state timeline
    # A business-initiated template is priced by the rate card (a utility template to Germany), not a flat rate.
    assert "€0.055" in test_row.inner_text()  # Babel's money format, to a tenth of a cent for message costs
    assert "131047" in page.locator("tr.message-row", has_text="4917000000002").inner_text()
    shot(page, "notifications")

    follow(page, page.get_by_role("link", name="Orders from chat", exact=True))
    # "2 times <the product's name>" (not its id), the price and total as money
    first_line = page.locator("tr.order-row").first.locator("li.product-line").first
    assert "2 \u00d7" in first_line.inner_text()
    assert first_line.locator(".product-name").inner_text() == in_stock_title(connected)
    shot(page, "orders")

    follow(page, page.get_by_role("link", name="Plugins", exact=True))
    woo = page.locator("#plugin-woocommerce")
    assert "Demo shop" in woo.inner_text()
    assert page.locator("#plugin-whatsapp").inner_text().count("Demo number") == 1
    shot(page, "plugins")

    follow(page, page.get_by_role("link", name="Jobs", exact=True))
    job = page.locator("tr.job-row", has_text=f"sync.delta.{connected.shop_id}")
    assert "every 60 minutes" in job.inner_text()
    follow(page, job.get_by_role("button", name="Run now"))
    assert page.get_by_role("status").inner_text() == "Queued."
    shot(page, "jobs")

    follow(page, page.get_by_role("link", name="Click-to-chat", exact=True))
    link = page.locator("input.wa-link").input_value()
    number = connected.graph.connection_settings()["display_phone_number"]
    assert link.startswith("https://wa.me/" + "".join(c for c in number if c.isdigit()) + "?text=")
    assert page.locator("textarea.widget").input_value().count("consent") >= 1
    png = page.request.get(live.dashboard(f"/click-to-chat/{connected.channel_id}/qr.png"))
    assert png.ok and png.body()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = page.request.get(live.dashboard(f"/click-to-chat/{connected.channel_id}/qr.svg"))
    assert svg.ok and b"<svg" in svg.body()
    shot(page, "click-to-chat")

    follow(page, page.get_by_role("link", name="Chat simulator", exact=True))
    page.locator("#sim-customer").fill(CUSTOMER)
    page.get_by_role("button", name="OK").click()
    page.locator("#transcript .bubble.customer").first.wait_for()
    shot(page, "simulator")

    page.goto(live.dashboard("/setup/webhooks"))
    shot(page, "wizard")


def test_gdpr_export_and_erase_from_the_contacts_page(connected: Connected, page: Any) -> None:
    live = connected.live
    activity(connected)
    log_in(page, live)
    page.wait_for_url(live.dashboard("/"))
    page.goto(live.dashboard("/contacts"))
    row = page.locator("tr.contact-row", has_text=CUSTOMER)
    with page.expect_download() as download:
        row.get_by_role("link", name="Export (JSON)").click()
    data = json.loads(Path(download.value.path()).read_text())
    assert data["contact"]["channel_user_id"] == CUSTOMER
    assert {m["type"] for m in data["inbound_messages"]} >= {"InboundText", "InboundCart"}
    page.once("dialog", lambda dialog: dialog.accept())
    follow(page, row.get_by_role("button", name="Erase"))
    assert page.get_by_role("status").inner_text() == "Contact erased."
    assert page.locator("tr.contact-row", has_text=CUSTOMER).count() == 0
    with live.runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Contact).where(Contact.channel_user_id == CUSTOMER)) == 0
        left = session.scalars(select(OutboundMessage.recipient)).all()
    assert CUSTOMER not in left


def test_metrics_show_syncs_webhooks_messages_and_queue(connected: Connected) -> None:
    activity(connected)
    assert requests.get(f"{connected.live.url}/metrics", timeout=10).status_code == 401  # a token is needed
    token = create_token(connected.live.runtime, "prometheus", scope="read")
    text = requests.get(f"{connected.live.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    assert 'connector_sync_runs_total{status="succeeded"} 1.0' in text
    assert 'connector_webhooks_received_total{outcome="processed",platform="whatsapp"}' in text
    assert 'connector_messages{channel="whatsapp",state="failed"} 1.0' in text
    assert 'connector_messages_failed_total{channel="whatsapp",kind="order_shipped"} 1.0' in text
    assert 'connector_platform_errors_total{platform="whatsapp",source="send"} 1.0' in text
    assert "connector_queue_tasks{" in text
