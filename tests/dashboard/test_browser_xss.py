"""Hostile text from shops and customers on every dashboard page, in a real browser: nothing runs, it is shown as
text, and every response carries the browser protections (Content-Security-Policy and friends).

Product titles come from the shop sandbox through a real sync, the contact's name and message from the Graph
sandbox's webhooks, the connection names from the same services the wizard uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from connector.db.models import Contact, InboundMessage
from connector.sandbox.seed import generate

from .conftest import Connected, Live, connected_stack, log_in, wait_until
from .test_browser_simulator import pick_row

# The reported attack: a title with spaces broke out of the add-to-cart button's aria-label.
ATTRIBUTE_BREAKOUT = "Classic Decaf onfocus=document.title=/XSS/.source autofocus tabindex=0"
TAG_BREAKOUT = '"><img src=x onerror=window.__xss=1>'
SCRIPT_BREAKOUT = "</script><script>window.__xss=1</script>"
QUOTE_BREAKOUT = "' autofocus onfocus='window.__xss=1' x='"
PRODUCT_TITLES = (ATTRIBUTE_BREAKOUT, TAG_BREAKOUT, SCRIPT_BREAKOUT, QUOTE_BREAKOUT)
CONTACT_NAME = TAG_BREAKOUT
MESSAGE_TEXT = SCRIPT_BREAKOUT + " hi"
SHOP_NAME = QUOTE_BREAKOUT
CHANNEL_NAME = '<b onmouseover="window.__xss=1">number</b>'
CUSTOMER = "4915199999999"

# Runs before any page script: remembers every Content-Security-Policy violation the page reports.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.effectiveDirective + " " + e.blockedURI);
});
"""

# What a page looks like to an attacker: handlers in the DOM, scripts, images, a changed title, the flag.
PAGE_STATE = """() => ({
  xss: window.__xss === undefined ? null : String(window.__xss),
  title: document.title,
  handlers: [...document.querySelectorAll("*")].flatMap((el) =>
    [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => el.tagName + " " + a.name)),
  scripts: [...document.scripts].map((s) => s.getAttribute("src")),
  images: [...document.images].map((i) => i.getAttribute("src")),
  violations: window.__violations,
})"""


def hostile_catalog() -> list[Any]:
    """The demo catalog with hostile titles on in-stock coffee products (the simulator shows those as a list)."""
    products = generate()
    coffee = [p for p in products if p.collection == "Coffee"]
    assert len(coffee) >= len(PRODUCT_TITLES)
    for product, title in zip(coffee, PRODUCT_TITLES, strict=False):
        product.title = title
        for variant in product.variants:
            variant.stock = max(variant.stock, 5)
    return products


@pytest.fixture
def hostile(live: Live) -> Iterator[Connected]:
    """A connected, synced stack whose shop, channel and products carry hostile names."""
    with connected_stack(live, products=hostile_catalog(), shop_name=SHOP_NAME, channel_name=CHANNEL_NAME) as stack:
        yield stack


def assert_inert(page: Any) -> dict[str, Any]:
    """Nothing hostile ran or became markup on the current page."""
    state = page.evaluate(PAGE_STATE)
    assert state["xss"] is None, f"script ran on {page.url}"
    assert state["title"].endswith("· Chatshop Connector") and "XSS" not in state["title"], state["title"]
    assert state["handlers"] == [], f"event handler attributes on {page.url}: {state['handlers']}"
    assert all(src and src.startswith("/dashboard/static/") for src in state["scripts"]), (
        f"unexpected scripts on {page.url}: {state['scripts']}"
    )
    assert "x" not in state["images"]
    assert state["violations"] == [], f"CSP violations on {page.url}: {state['violations']}"
    return state


def assert_protected(response: Any) -> None:
    """The browser protections every response of the web app carries."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    csp = headers.get("content-security-policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("script-src") == "script-src 'self'", csp
    assert directives.get("style-src") == "style-src 'self'", csp
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
    assert directives.get("object-src") == "object-src 'none'", csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin")


def customer_activity(connected: Connected) -> str:
    """The hostile customer writes and sends a cart; returns the retailer id of the product they ordered."""
    rt = connected.live.runtime
    graph = connected.graph
    items = graph.catalog_items(graph.connection_settings()["catalog_id"])
    ordered = next(i for i in items if str(i.get("title")).startswith(ATTRIBUTE_BREAKOUT))
    retailer_id = ordered.get("retailer_id") or ordered["id"]
    graph.customer_cart(None, CUSTOMER, [(retailer_id, 1)])

    def cart_stored() -> bool:
        with rt.db.session() as session:
            return bool(
                session.scalar(
                    select(func.count()).select_from(InboundMessage).where(InboundMessage.type == "InboundCart")
                )
            )

    wait_until(cart_stored)
    # after the cart: every message carries the sender's profile name, and the newest one is kept
    graph.customer_text(None, CUSTOMER, MESSAGE_TEXT, name=CONTACT_NAME)

    def named() -> bool:
        with rt.db.session() as session:
            return session.scalar(select(Contact.name).where(Contact.channel_user_id == CUSTOMER)) == CONTACT_NAME

    wait_until(named)
    return retailer_id


def test_hostile_titles_names_and_messages_are_shown_as_text_on_every_page(hostile: Connected, page: Any) -> None:
    live = hostile.live
    customer_activity(hostile)
    page.add_init_script(RECORD_VIOLATIONS)
    responses: list[Any] = []
    page.on("response", lambda r: responses.append(r) if r.url.startswith(live.url) else None)

    page.goto(live.dashboard("/login"))
    assert_inert(page)
    log_in(page, live)
    page.wait_for_url(live.dashboard("/"))

    def visit(path: str, *texts: str) -> None:
        page.goto(live.dashboard(path))
        shown = page.locator("main").inner_text()
        for text in texts:
            assert text in shown, f"{text!r} not shown literally on {path}"
        assert_inert(page)

    visit("/", SHOP_NAME)
    visit("/catalog", *PRODUCT_TITLES)
    visit("/contacts", CONTACT_NAME, CHANNEL_NAME)
    visit("/notifications")
    visit("/orders", CONTACT_NAME)
    visit("/plugins", SHOP_NAME, CHANNEL_NAME)
    visit("/jobs")
    visit("/click-to-chat", CHANNEL_NAME)
    visit("/setup/shop", SHOP_NAME)
    visit("/setup/channel", SHOP_NAME, CHANNEL_NAME)
    visit("/setup/webhooks", SHOP_NAME, CHANNEL_NAME)
    visit("/setup/sync")
    visit("/setup/message")

    # The simulator: the customer's message, then a product list whose titles try to break out of the buttons.
    visit(f"/simulator?channel={hostile.channel_id}&customer={CUSTOMER}", CHANNEL_NAME)
    page.locator("#transcript .bubble.customer", has_text=SCRIPT_BREAKOUT).first.wait_for()
    pick_row(page, "Browse products")
    pick_row(page, "Coffee")
    page.locator("#transcript .bubble.business .product").last.wait_for()
    assert_inert(page)
    for title in PRODUCT_TITLES:
        # the button's accessible name holds the whole title (variants add " - M, black"): nothing parsed it
        page.get_by_role("button", name=f"Add to cart: {title}").last.wait_for(state="attached")
    assert_inert(page)
    page.get_by_role("button", name=f"Add to cart: {ATTRIBUTE_BREAKOUT}").last.click()
    page.locator("#send-cart").wait_for()
    assert_inert(page)

    # The policy is enforced, not just sent: a script injected past the markup is refused and reported.
    page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.__xss = 'inline'";
                   document.body.append(s); }"""
    )
    wait_until(lambda: page.evaluate("window.__violations.length"))
    state = page.evaluate(PAGE_STATE)
    assert state["xss"] is None
    assert [v.split(" ")[0] for v in state["violations"]] == ["script-src-elem"]

    # The poll still tells the server what it shows (without eval): unchanged transcripts are not re-sent.
    # Waiting for the next poll (not asserting one happened by now) keeps this true on a loaded machine.
    if not any(r.status == 204 and "/simulator/transcript" in r.url for r in responses):
        with page.expect_response(
            lambda r: r.status == 204 and "/simulator/transcript" in r.url, timeout=60_000
        ) as unchanged:
            pass
        assert unchanged.value.status == 204

    # Every response the browser got (pages, htmx polls, static files, redirects) carried the protections.
    assert responses
    for response in responses:
        assert_protected(response)


def test_every_response_of_the_web_app_carries_the_browser_protections(live: Live) -> None:
    for path, status in (
        ("/healthz", 200),
        ("/api/v1/plugins/", 401),
        ("/dashboard/login", 200),
        ("/dashboard/catalog", 302),
        ("/nope", 404),
    ):
        response = requests.get(live.url + path, timeout=10, allow_redirects=False)
        assert response.status_code == status, path
        assert_protected(response)


def test_another_site_cannot_frame_the_dashboard(live: Live, page: Any) -> None:
    # a page of another origin (about:blank here) embeds the login form, as a clickjacking page would
    page.set_content(f'<iframe id="framed" src="{live.dashboard("/login")}"></iframe>', wait_until="load")
    framed = next(f for f in page.frames if f != page.main_frame)
    assert not framed.url.startswith(live.url), framed.url  # the browser refused to show it
    assert page.frame_locator("#framed").locator("#email").count() == 0
