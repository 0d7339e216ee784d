"""WhatsApp by approval in a real browser: 'Connect WhatsApp' opens Meta's (sandbox) window as a popup, one click
there connects the number, and the wizard goes on to the webhook check, the first sync and the test message. Counts
what the owner types and clicks, and times it (docs/dashboard.md records the numbers)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from connector.db.models import OutboundMessage
from connector.db.models_meta_onboarding import MetaSignupState

from .conftest import Live, log_in, wait_until


class Owner:
    """The shop owner's hands: every click and every typed field goes through here and is counted."""

    def __init__(self) -> None:
        self.clicks = 0
        self.approval_clicks = 0  # inside Meta's window
        self.typed: list[str] = []

    def click(self, locator: Any, *, at_meta: bool = False) -> None:
        if at_meta:
            self.approval_clicks += 1
        else:
            self.clicks += 1
        locator.click()

    def type(self, locator: Any, text: str, what: str) -> None:
        self.typed.append(what)
        locator.fill(text)


def connect_shop_from_the_sandbox(page: Any) -> None:
    """The shop side (measured by its own test): the WooCommerce sandbox, filled in by demo mode."""
    with page.expect_navigation():
        page.get_by_label("Platform").select_option("woocommerce")
    with page.expect_navigation():
        page.locator("#fill-sandbox").click()
    with page.expect_navigation():
        page.locator("#test-and-continue").click()
    page.locator("#wizard-done").wait_for()


def test_whatsapp_by_approval_end_to_end_counted_and_timed(live: Live, page: Any) -> None:
    log_in(page, live)
    page.goto(live.dashboard("/setup/shop"))
    assert page.locator("#prerequisites #check-public_https").is_visible()  # the checklist comes first
    page.locator("#check-meta_app").click()  # htmx swaps the row for the check's result
    page.locator("#result-meta_app[data-status=ok]").wait_for()
    assert "Chatshop Connector" in page.locator("#result-meta_app").inner_text()
    connect_shop_from_the_sandbox(page)
    page.wait_for_url("**/setup/channel")

    owner = Owner()
    started = time.monotonic()
    # 2. channel: one click opens Meta's window; one click there approves (number preselected, as Meta does for an
    # owner with one number).
    with page.expect_popup() as opened:
        owner.click(page.locator("#connect-whatsapp"))
    window = opened.value
    window.locator("#meta-continue").wait_for()
    owner.click(window.locator("#meta-continue"), at_meta=True)
    page.wait_for_url("**/setup/webhooks")
    connected_after = time.monotonic() - started
    assert "Connected to" in page.locator("#wizard-done").inner_text()
    assert page.locator("#meta-webhooks-done").is_visible()  # nothing to paste at Meta
    rt = live.runtime
    (channel,) = rt.connections.channels()
    assert channel.channel == "whatsapp"
    assert rt.connections.settings_of(channel)["access_token"].startswith("EAAG")

    def relayed() -> bool:
        with rt.db.session() as session:
            (signup,) = session.scalars(select(MetaSignupState)).all()
            return signup.used_at is not None and (signup.session_info or {}).get("event") == "FINISH"

    # The window's message event reached the page and was relayed (the page's own request, which a loaded
    # machine may serve after the callback's: the callback gives it a moment, and a late one is still kept).
    wait_until(relayed)

    # 3. webhooks: nothing to paste for WhatsApp (subscribed with the override); the check turns green on the
    # first customer message (demo: the sandbox sends one).
    with page.expect_navigation():  # the form's answer, before anything is read
        owner.click(page.locator("#send-test-webhook"))
    page.locator("#channel-webhook-check.ok").wait_for()
    with page.expect_navigation():
        owner.click(page.locator("#to-sync"))

    # 4. first sync
    with page.expect_navigation():
        owner.click(page.locator("#start-sync"))
    page.locator("#sync-done").wait_for(timeout=120_000)
    with page.expect_navigation():
        owner.click(page.locator("#to-message"))

    # 5. test message to the owner's phone
    owner.type(page.get_by_label("Your phone number"), "+49 151 2345 6789", "phone number")
    with page.expect_navigation():
        owner.click(page.locator("#send-test"))
    page.locator("#all-set").wait_for(timeout=60_000)
    seconds = time.monotonic() - started
    with rt.db.session() as session:
        message = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "test")).one()
    assert message.status in ("sent", "delivered", "read")

    print(
        f"\nWhatsApp by approval: typed {len(owner.typed)} field(s) {owner.typed}, {owner.clicks} clicks in the "
        f"wizard + {owner.approval_clicks} in Meta's window; connected after {connected_after:.1f} s, "
        f"test message sent after {seconds:.1f} s"
    )
    assert owner.typed == ["phone number"]  # no ids, tokens, secrets or verify tokens
    assert owner.clicks == 6 and owner.approval_clicks == 1
