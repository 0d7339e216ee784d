"""Every dashboard page in Chromium at a phone's width (390 px) and a laptop's (1280 px): nothing needs sideways
scrolling, and axe-core finds no serious or critical accessibility violation. Also the overview's charts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.numbers import format_currency

from connector.dashboard.queries import cost_days

from .a11y import DESKTOP, PHONE, axe_violations, overflow
from .conftest import Connected, Live, follow, log_in, wait_until
from .test_browser_pages import CUSTOMER, activity
from .test_chart_figures import chat_order_created

#: Every page a dashboard owner opens (path, what it is called in a failure).
PAGES = (
    "/",
    "/?days=30",
    "/catalog",
    "/contacts",
    "/notifications",
    "/orders",
    "/inbox",
    "/recovery",
    "/plugins",
    "/jobs",
    "/click-to-chat",
    "/simulator",
    "/setup",
    "/setup/shop",
    "/setup/channel",
    "/setup/webhooks",
    "/setup/sync",
    "/setup/message",
)


def _check(page: Any, label: str, problems: list[str]) -> None:
    wide = overflow(page)
    if wide is not None:
        problems.append(f"{label}: {wide['scrollWidth']} px wide in {wide['width']} px ({'; '.join(wide['elements'])})")
    problems.extend(f"{label}: {v}" for v in axe_violations(page))


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_every_page_fits_the_screen_and_passes_axe(connected: Connected, page: Any, viewport: dict[str, int]) -> None:
    live = connected.live
    activity(connected)
    page.set_viewport_size(viewport)
    page.goto(live.dashboard("/login"))
    problems: list[str] = []
    _check(page, "/login", problems)
    log_in(page, live)
    page.wait_for_url(live.dashboard("/"))
    for path in PAGES:
        response = page.goto(live.dashboard(path))
        assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
        _check(page, path, problems)
    # The simulator with a conversation in it, and the contact page of a customer.
    page.goto(live.dashboard("/simulator"))
    page.locator("#sim-customer").fill(CUSTOMER)
    follow(page, page.get_by_role("button", name="OK"))
    page.locator("#transcript .bubble.customer").first.wait_for()
    _check(page, "/simulator (a conversation)", problems)
    # The inbox thread of that customer.
    page.goto(live.dashboard("/inbox"))
    follow(page, page.locator(".inbox-list a").first)
    page.locator(".thread .message").first.wait_for()
    _check(page, "/inbox/<contact> (a thread)", problems)
    assert not problems, "\n".join(problems)


def test_first_user_page_fits_a_phone(live: Live, page: Any) -> None:
    page.set_viewport_size(PHONE)
    page.goto(live.dashboard("/login"))
    problems: list[str] = []
    _check(page, "/login", problems)
    assert not problems, "\n".join(problems)


def test_overview_charts_show_the_period_as_svg_and_as_tables(connected: Connected, page: Any) -> None:
    live = connected.live
    activity(connected)  # a chat, a cart, a test message, a refused notification: today
    chat_order_created(live.runtime)
    log_in(page, live)
    page.wait_for_url(live.dashboard("/"))

    for chart in ("messages", "cost", "orders", "back-in-stock", "funnel"):
        figure = page.locator(f"#chart-{chart}")
        assert figure.locator("svg.chart").count() == 1, chart
        assert figure.locator("table caption").count() == 1, chart  # the same numbers for screen readers
    # Seven days by default: one row per day, today last, with its weekday.
    rows = page.locator("#chart-messages table tbody tr")
    assert rows.count() == 7
    today = rows.last
    cells = today.locator("td").all_inner_texts()
    headers = page.locator("#chart-messages table thead th").all_inner_texts()
    by_kind = dict(zip(headers[1:], cells, strict=True))
    assert int(by_kind["Test messages"]) == 1
    assert int(by_kind["Order shipped"]) == 1
    assert int(by_kind["Chat replies"]) >= 1
    # Bars are drawn for today's messages (non-zero height), none for a day without any.
    assert page.locator("#chart-messages rect.bar[height='0.0']").count() >= 1
    tall = page.locator("#chart-messages rect.bar").evaluate_all(
        "bars => bars.filter(b => parseFloat(b.getAttribute('height')) > 0).length"
    )
    assert tall >= 3
    # Today's cost is the notifications page's estimate for today (rate-card prices, at least one utility
    # template to Germany at 0.055), written as money.
    estimate = cost_days(live.runtime, 1)[0]["estimate"]
    assert estimate >= 0.055
    cost_today = page.locator("#chart-cost table tbody tr").last.locator("td").first.inner_text()
    assert cost_today == format_currency(estimate, "EUR", locale="en", decimal_quantization=False)
    # The funnel: the customer wrote (menu), sent a cart (product and cart steps).
    funnel = dict(
        zip(
            page.locator("#chart-funnel tbody th").all_inner_texts(),
            map(int, page.locator("#chart-funnel tbody td").all_inner_texts()),
            strict=True,
        )
    )
    assert funnel["Menu"] >= 1 and funnel["Cart"] >= 1 and funnel["Product viewed"] >= funnel["Cart"]
    # The cart became an order in the shop: counted today, with its revenue as money.
    assert funnel["Order"] == 1
    assert page.locator("#orders-total").inner_text() == "1"
    assert page.locator("#chart-orders .revenue-total").first.inner_text().startswith("€")
    assert funnel["Menu"] >= funnel["Product viewed"] >= funnel["Cart"] >= funnel["Order"] >= funnel["Paid"]

    # Another period: 30 rows; an unknown period is refused with a reason.
    page.get_by_label("Period").select_option("30")
    follow(page, page.get_by_role("button", name="Show"))
    page.wait_for_url(live.dashboard("/?days=30"))
    assert page.locator("#chart-messages table tbody tr").count() == 30
    response = page.goto(live.dashboard("/?days=1000"))
    assert response is not None and response.status == 400
    assert "days must be one of 7, 30, 90" in page.locator("main").inner_text()


def test_times_show_with_the_day_in_the_viewers_time_zone(connected: Connected, browser: Any) -> None:
    activity(connected)
    context = browser.new_context(locale="en-US", timezone_id="America/New_York", viewport=DESKTOP)
    try:
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        log_in(tab, connected.live)
        tab.wait_for_url(connected.live.dashboard("/"))
        tab.goto(connected.live.dashboard("/contacts"))
        moment = tab.locator("tr.contact-row", has_text=CUSTOMER).locator("td.window time.local")
        wait_until(lambda: moment.get_attribute("data-localised") == "1")
        at = datetime.fromisoformat(moment.get_attribute("datetime") or "").astimezone(ZoneInfo("America/New_York"))
        shown = moment.inner_text()
        assert at.strftime("%a") in shown and at.strftime("%I:%M") in shown, shown  # New York's day and time
        assert (moment.get_attribute("title") or "").endswith("UTC")  # the server's UTC one hover away
    finally:
        context.close()
