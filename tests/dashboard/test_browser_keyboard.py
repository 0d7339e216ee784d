"""The setup wizard with the keyboard alone (no mouse): every control is reached with Tab, shows where the focus is,
and works with Enter or the arrow keys."""

from __future__ import annotations

from typing import Any

from .conftest import Live, log_in

#: A control that needs more Tab presses than this from the top of the page is as good as unreachable.
MAX_TABS = 80


def tab_to(page: Any, selector: str) -> None:
    """Press Tab until ``selector`` has the focus (the way a keyboard user gets there)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            # The focus is visible: the outline the stylesheet draws for :focus-visible.
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{selector} has the focus but shows no outline"
            return
    raise AssertionError(f"{selector} not reached with {MAX_TABS} Tab presses")


def choose_with_arrows(page: Any, selector: str, value: str) -> None:
    """Move through a focused <select> with the arrow keys until ``value`` is chosen (the form then reloads)."""
    for _ in range(20):
        if page.locator(selector).input_value() == value:
            return
        tab_to(page, selector)  # again after each reload
        with page.expect_navigation():
            page.keyboard.press("ArrowDown")
    raise AssertionError(f"{value} not reached in {selector}")


def test_the_wizard_works_with_the_keyboard_alone(live: Live, page: Any) -> None:
    log_in(page, live)
    page.goto(live.dashboard("/setup/shop"))

    # 1. shop: choose the platform, fill in from the sandbox, test and continue
    choose_with_arrows(page, "#platform", "woocommerce")
    tab_to(page, "#fill-sandbox")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "#test-and-continue")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Connected to" in page.locator("#wizard-done").inner_text()

    # 2. channel: WhatsApp on the Graph sandbox
    page.goto(live.dashboard("/setup/channel"))
    choose_with_arrows(page, "#channel", "whatsapp")
    tab_to(page, "#fill-sandbox")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "#test-and-continue")
    # The channel step shows the shop's #wizard-done already: wait for the page the form answers with.
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#wizard-done").wait_for()
    assert live.runtime.connections.channels()
