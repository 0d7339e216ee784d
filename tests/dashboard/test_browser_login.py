"""Login in a real browser: a wrong password, the right one, CSRF protection, the rate limit, the language switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.plugins import Plugins

from .conftest import EMAIL, PASSWORD, Live, follow, log_in, start_live


def test_a_wrong_password_is_refused_and_the_right_one_logs_in(live: Live, page: Any) -> None:
    page.goto(live.dashboard("/"))
    assert "/dashboard/login" in page.url
    log_in(page, live, password="not the password")
    assert page.locator("#login-error").inner_text() == "Wrong e-mail or password."
    assert "/dashboard/login" in page.url
    log_in(page, live)
    page.wait_for_url(live.dashboard("/"))
    assert page.get_by_role("heading", name="Overview").is_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/dashboard/login")
    page.goto(live.dashboard("/catalog"))
    assert "/dashboard/login" in page.url


def test_a_form_without_the_csrf_token_is_refused(live: Live, page: Any) -> None:
    log_in(page, live)
    page.wait_for_url(live.dashboard("/"))
    # A forged POST from the logged-in browser, as another site would send it: no token.
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', body: new URLSearchParams({job_id: 'x'})})).status""",
        live.dashboard("/jobs/run"),
    )
    assert status == 400
    # The login form itself is protected too: a stale token is refused with a reason.
    page.goto(live.dashboard("/login"))
    page.locator("#main input[name=csrf_token]").evaluate("e => e.value = 'forged'")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    follow(page, page.get_by_role("button", name="Log in"))
    assert "Reload the page and try again" in page.locator("main").inner_text()


def test_too_many_failed_logins_are_rate_limited(tmp_path: Path, plugins: Plugins, page: Any) -> None:
    # A back-off longer than the test, so the right password is refused while it holds.
    live = start_live(tmp_path, plugins, login_max_failures=3, login_backoff_seconds=600)
    try:
        for _ in range(3):
            log_in(page, live, password="wrong password!")
            assert page.locator("#login-error").inner_text() == "Wrong e-mail or password."
        log_in(page, live)  # even the right password waits now
        assert "Too many failed logins" in page.locator("#login-error").inner_text()
    finally:
        live.stop()


def test_german_from_the_browser_and_the_switch(live: Live, browser: Any) -> None:
    context = browser.new_context(locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"})
    page = context.new_page()
    try:
        page.goto(live.dashboard("/login"))
        assert page.get_by_role("heading", name="Anmelden").is_visible()
        page.get_by_label("E-Mail").fill(EMAIL)
        page.get_by_label("Passwort").fill(PASSWORD)
        follow(page, page.get_by_role("button", name="Anmelden"))
        assert page.get_by_role("heading", name="Übersicht").is_visible()
        follow(page, page.get_by_role("link", name="EN", exact=True))
        assert page.get_by_role("heading", name="Overview").is_visible()
    finally:
        context.close()


def test_usable_on_a_phone_and_by_keyboard(live: Live, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(live.dashboard("/login"))
        # Keyboard only: tab to the fields, type, press Enter.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent").strip() == "Skip to content"
        page.get_by_label("E-mail").focus()
        page.keyboard.type(EMAIL)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(live.dashboard("/"))
        # Nothing wider than the phone's screen (tables scroll inside their box).
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
