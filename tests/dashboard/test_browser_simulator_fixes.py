"""The chat simulator as a shop owner tries it: messages in true order with the newest in view, line breaks kept,
sold-out products offered for "notify me" and not for the cart, a cart edited by product name, and a message
written from a product (a referral)."""

from __future__ import annotations

import itertools
from typing import Any

from playwright.sync_api import expect

from .conftest import Connected, csrf_of, follow, log_in, wait_until
from .test_browser_simulator import pick_row

CUSTOMER = "4915112345679"


def _open(page: Any, connected: Connected) -> None:
    log_in(page, connected.live)
    page.goto(connected.live.dashboard(f"/simulator?channel={connected.channel_id}&customer={CUSTOMER}"))


def _say(page: Any, text: str) -> None:
    page.get_by_label("Type a message").fill(text)
    follow(page, page.locator("#sim-send"))  # the page the form answers with, which shows ``text``
    page.locator("#transcript .bubble.customer", has_text=text).wait_for()


def _sides(page: Any) -> list[str]:
    return page.locator("#transcript .bubble").evaluate_all(
        "bubbles => bubbles.map(b => (b.classList.contains('customer') ? 'customer: ' : 'bot: ') + b.innerText)"
    )


def test_answers_come_below_the_message_that_caused_them_with_line_breaks_and_the_newest_in_view(
    connected: Connected, page: Any
) -> None:
    _open(page, connected)
    for text in ("Hi", "xyzzy", "hello"):
        _say(page, text)
        # Each customer message is followed by the bot's answer to it, never preceded by it.
        wait_until(
            lambda text=text: (
                (s := _sides(page)) and s[-1].startswith("bot: ") and any(line == f"customer: {text}" for line in s)
            ),
            timeout=60,
        )
    sides = _sides(page)
    customer_at = [i for i, line in enumerate(sides) if line.startswith("customer: ")]
    assert len(customer_at) == 3
    assert sides[0] == "customer: Hi"  # nothing from the bot before the customer wrote
    for before, after in itertools.pairwise(customer_at):
        assert after - before >= 2, f"no answer between two customer messages: {sides}"
    # "xyzzy" is not understood: the answer says so, then a blank line, then the menu's text (line breaks kept).
    answer = page.locator("#transcript .bubble.business .text", has_text="xyzzy").first.inner_text()
    assert "\n" in answer.strip()
    # The newest message is in view: the log is scrolled to its end.
    wait_until(
        lambda: page.locator("#transcript").evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight < 40")
    )


def test_sold_out_products_are_not_offered_for_the_cart_and_the_cart_is_edited_by_name(
    connected: Connected, page: Any
) -> None:
    graph = connected.graph
    items = graph.catalog_items(graph.connection_settings()["catalog_id"])
    sold_out = next(i for i in items if i["availability"] != "in stock")
    sold_out_id = sold_out.get("retailer_id") or sold_out["id"]
    _open(page, connected)
    _say(page, "Hi")
    pick_row(page, "Browse products")
    pick_row(page, "Coffee")
    listing = page.locator("#transcript .bubble.business", has=page.locator(".product")).last
    listing.locator(".product").first.wait_for()
    # Every product the list marks sold out has no "Add to cart"; every other one has.
    for product in listing.locator(".product").all():
        has_button = product.locator("button.add-to-cart").count() == 1
        assert has_button != (product.locator(".sold-out").count() == 1), product.inner_text()
    first = listing.locator(".product", has=page.locator("button.add-to-cart")).first
    title = first.locator("strong").inner_text()
    retailer_id = first.get_attribute("data-retailer-id")
    follow(page, first.locator("button.add-to-cart"))

    line = page.locator(f"#sim-cart .cart-line[data-retailer-id='{retailer_id}']")
    assert line.locator(".name").inner_text() == title  # the product's name, not its id
    # Each cart button posts a form and the simulator comes back: wait for that page, then for the new quantity.
    follow(page, line.get_by_role("button", name=f"One more: {title}"))
    expect(page.locator(f"#sim-cart .cart-line[data-retailer-id='{retailer_id}'] .qty")).to_have_text("2")
    follow(
        page,
        page.locator(f"#sim-cart .cart-line[data-retailer-id='{retailer_id}']").get_by_role(
            "button", name=f"One less: {title}"
        ),
    )
    expect(page.locator(f"#sim-cart .cart-line[data-retailer-id='{retailer_id}'] .qty")).to_have_text("1")
    follow(
        page,
        page.locator(f"#sim-cart .cart-line[data-retailer-id='{retailer_id}']").get_by_role(
            "button", name=f"Remove: {title}"
        ),
    )
    expect(page.locator("#sim-cart")).to_have_count(0)  # the cart is empty again

    # Adding a sold-out product by hand is refused with a reason, and the cart stays empty.
    token = csrf_of(page.content())
    response = page.request.post(
        connected.live.dashboard(f"/simulator/send?channel={connected.channel_id}&customer={CUSTOMER}"),
        form={"csrf_token": token, "action": "add", "value": sold_out_id},
        max_redirects=0,
    )
    assert response.status == 400
    assert "sold out" in response.text()
    page.reload()
    assert page.locator("#sim-cart").count() == 0


def test_a_message_written_from_a_product_gets_that_product(connected: Connected, page: Any) -> None:
    graph = connected.graph
    items = graph.catalog_items(graph.connection_settings()["catalog_id"])
    item = next(i for i in items if i["availability"] == "in stock")
    retailer_id = item.get("retailer_id") or item["id"]
    _open(page, connected)
    page.locator("details.sim-referral summary").click()
    page.get_by_label("Product").select_option(retailer_id)
    follow(page, page.locator("#sim-from-product"))
    bubble = page.locator("#transcript .bubble.customer", has=page.locator(".from-product"))
    bubble.wait_for()
    assert item["title"] in bubble.locator(".from-product").inner_text()
    # The bot answers about that product (its title, with "Buy"), below the customer's message.
    answer = page.locator("#transcript .bubble.customer ~ .bubble.business", has_text=item["title"]).first
    answer.wait_for()
