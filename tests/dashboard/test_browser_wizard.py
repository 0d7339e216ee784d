"""The setup wizard end to end in a real browser, against the sandboxes in demo mode, timed."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from connector.db.models import CatalogItem, OutboundMessage, ShopVariant

from .conftest import Live, follow, log_in


def choose(page: Any, label: str, value: str) -> None:
    """Pick a platform or channel: the form reloads with that plugin's fields."""
    with page.expect_navigation():
        page.get_by_label(label).select_option(value)


def fill_from_sandbox(page: Any) -> None:
    """Demo mode: the wizard starts the sandbox and fills the form with its credentials."""
    with page.expect_navigation():
        page.locator("#fill-sandbox").click()


def test_wizard_end_to_end_against_the_sandboxes(live: Live, page: Any) -> None:
    started = time.monotonic()
    log_in(page, live)
    follow(page, page.get_by_role("link", name="Setup", exact=True))
    page.wait_for_url("**/dashboard/setup/shop")

    # 1. shop: WooCommerce sandbox, credentials tested live
    choose(page, "Platform", "woocommerce")
    fill_from_sandbox(page)
    follow(page, page.locator("#test-and-continue"))
    assert "Connected to" in page.locator("#wizard-done").inner_text()

    # 2. channel: WhatsApp on the Graph sandbox
    choose(page, "Channel", "whatsapp")
    fill_from_sandbox(page)
    # The channel step shows the shop's #wizard-done too: wait for the webhooks step, not for that.
    follow(page, page.locator("#test-and-continue"))
    page.wait_for_url("**/dashboard/setup/webhooks")

    # 3. webhooks: URLs to paste, registered for us, and a live "received" check
    rt = live.runtime
    shop = rt.connections.shops()[0]
    channel = rt.connections.channels()[0]
    assert page.locator("#shop-hook").input_value() == rt.connections.webhook_url("woocommerce", shop.id)
    assert page.locator("#channel-hook").input_value() == rt.connections.webhook_url("whatsapp", channel.id)
    assert page.locator("#verify-token").input_value()
    follow(page, page.locator("#register-webhooks"))  # the page comes back: press the next button on it
    follow(page, page.locator("#send-test-webhook"))
    page.locator("#shop-webhook-check.ok").wait_for()
    page.locator("#channel-webhook-check.ok").wait_for()
    follow(page, page.locator("#to-sync"))

    # 4. first sync with a progress bar
    follow(page, page.locator("#start-sync"))
    page.locator("#sync-done").wait_for(timeout=60_000)
    assert page.locator("#sync-bar").get_attribute("value") == "100"
    with rt.db.session() as session:
        listed = session.scalar(select(func.count()).select_from(ShopVariant).where(ShopVariant.listed))
        synced = session.scalar(select(func.count()).select_from(CatalogItem).where(CatalogItem.status == "synced"))
    assert listed and synced == listed
    follow(page, page.locator("#to-message"))

    # 5. a test message to "my own phone" (the sandbox accepts it like WhatsApp would)
    page.get_by_label("Your phone number").fill("+49 151 2345 6789")
    follow(page, page.locator("#send-test"))
    page.locator("#all-set").wait_for(timeout=30_000)
    seconds = time.monotonic() - started
    with rt.db.session() as session:
        message = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "test")).one()
    assert message.recipient == "4915123456789"
    assert message.status in ("sent", "delivered", "read")
    print(f"\nwizard end to end: {seconds:.1f} s")
    assert seconds < 300, f"the wizard took {seconds:.0f}s; the promise is five minutes"


def test_a_wrong_credential_says_what_to_fix_and_creates_nothing(live: Live, page: Any) -> None:
    log_in(page, live)
    page.goto(live.dashboard("/setup/shop"))
    choose(page, "Platform", "woocommerce")
    fill_from_sandbox(page)
    page.locator("#f-consumer_secret").fill("cs_wrong")
    follow(page, page.locator("#test-and-continue"))
    error = page.locator("#test-error").inner_text()
    assert "Connection test failed" in error
    assert live.runtime.connections.shops() == []


def test_a_missing_field_is_marked_with_its_reason(live: Live, page: Any) -> None:
    log_in(page, live)
    page.goto(live.dashboard("/setup/shop"))
    choose(page, "Platform", "woocommerce")
    # The field is on the page before and after: read it on the page the server answered with.
    follow(page, page.locator("#test-and-continue"))
    assert page.locator("#f-shop_url").get_attribute("aria-invalid") == "true"
    assert "required" in page.locator("#f-shop_url-error").inner_text()
