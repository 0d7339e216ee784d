"""A purchase made in a browser through the chat simulator: the customer's side of WhatsApp, against the sandbox."""

from __future__ import annotations

from typing import Any

from .conftest import Connected, follow, log_in, wait_until

CUSTOMER = "4915112345678"


def newest(page: Any, selector: str) -> Any:
    """The newest match in the transcript (it re-renders every second)."""
    return page.locator(f"#transcript {selector}").last


def pick_row(page: Any, title: str) -> None:
    """Open the newest list message that offers ``title`` and tap that row."""
    bubble = page.locator("#transcript .bubble.business", has=page.locator("button.row", has_text=title)).last
    bubble.wait_for(state="attached")
    bubble.locator("details.list summary").click()
    follow(page, bubble.locator("button.row", has_text=title))  # the form's answer is the simulator again


def test_a_purchase_through_the_chat_simulator(connected: Connected, page: Any) -> None:
    live = connected.live
    log_in(page, live)
    page.goto(live.dashboard(f"/simulator?channel={connected.channel_id}&customer={CUSTOMER}"))

    page.get_by_label("Type a message").fill("Hi")
    follow(page, page.locator("#sim-send"))
    page.locator("#transcript .bubble.customer", has_text="Hi").wait_for()
    # The menu arrives as a WhatsApp list: open it and pick a row, as in the app.
    pick_row(page, "Browse products")
    pick_row(page, "Coffee")
    # A product list (in-stock section first): add the first product to the cart and send the cart.
    products = page.locator("#transcript .bubble.business", has=page.locator(".product")).last
    product = products.locator(".product").first
    product.wait_for()
    retailer_id = product.get_attribute("data-retailer-id")
    follow(page, product.locator("button.add-to-cart"))
    follow(page, page.locator("#send-cart"))
    page.locator("#transcript .bubble.customer", has_text="Cart:").wait_for()

    # The engine confirms the cart with reply buttons; pressing the first one places the order. A button is pressed
    # once: again only on a newer answer of the bot (another step), never on the one already pressed.
    answers_pressed = [0]

    def ordered() -> bool:
        if connected.shop.orders():
            return True
        answers = page.locator("#transcript .bubble.business")
        shown = answers.count()
        buttons = answers.last.locator("button.reply")
        if shown > answers_pressed[0] and buttons.count():
            answers_pressed[0] = shown
            follow(page, buttons.first)
        return bool(connected.shop.orders())

    wait_until(ordered, interval=1.0)
    order = connected.shop.orders()[0]
    assert retailer_id and retailer_id in str(order)
    # The payment link arrives as a link button in the chat.
    newest(page, ".bubble.business a.button").wait_for(timeout=20_000)
    # ...and the cart shows on the orders page.
    page.goto(live.dashboard("/orders"))
    assert page.locator("tr.order-row").count() >= 1


def test_the_simulator_renders_the_menu_list_and_the_customers_choice(connected: Connected, page: Any) -> None:
    live = connected.live
    log_in(page, live)
    page.goto(live.dashboard(f"/simulator?channel={connected.channel_id}&customer={CUSTOMER}"))
    page.get_by_label("Type a message").fill("Hello")
    follow(page, page.locator("#sim-send"))
    pick_row(page, "Search")
    page.locator("#transcript .bubble.customer", has_text="Search").wait_for()


def test_the_simulator_is_only_offered_in_demo_mode(connected: Connected, page: Any) -> None:
    live = connected.live
    live.runtime.config.server.demo = False
    try:
        log_in(page, live)
        response = page.goto(live.dashboard("/simulator"))
        assert response.status == 404
        assert "demo mode" in page.content()
    finally:
        live.runtime.config.server.demo = True
