"""The list pages with two shops: a shop column, the shop filter, search and paging (catalog, contacts, orders,
messages), and a 400 with the reason for a malformed request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from connector.dashboard.paging import PAGE_SIZE
from connector.db.models import ShopVariant

from .conftest import Live, connected_stack, follow, log_in
from .test_browser_pages import CUSTOMER, activity


def test_two_shops_get_a_shop_column_a_filter_search_and_pages(live: Live, page: Any) -> None:
    with connected_stack(live) as first, connected_stack(live, shop_name="Second shop", channel_name="Second number"):
        activity(first)
        rt = live.runtime
        with rt.db.session() as session:
            variants = session.scalar(select(func.count()).select_from(ShopVariant))
            title = session.scalars(select(ShopVariant.title).order_by(ShopVariant.id)).first()
        log_in(page, live)
        page.wait_for_url(live.dashboard("/"))

        # Catalog: both shops' items, each with its shop, one page at a time.
        page.goto(live.dashboard("/catalog"))
        assert page.locator("#catalog-items thead th", has_text="Shop").count() == 1
        shops = set(page.locator("tr.item-row td.shop").all_inner_texts())
        assert len(page.locator("tr.item-row").all()) == min(variants, PAGE_SIZE)
        if variants > PAGE_SIZE:
            first_row = page.locator("tr.item-row").first.inner_text()
            page.get_by_role("link", name="Next page").click()
            page.wait_for_url("**page=2**")
            assert page.locator("tr.item-row").first.inner_text() != first_row
            assert page.get_by_role("link", name="Previous page").count() == 1
        # The shop filter keeps one shop's items.
        page.goto(live.dashboard("/catalog"))
        page.get_by_label("Shop").select_option(label="Second shop")
        follow(page, page.get_by_role("button", name="Search"))
        assert set(page.locator("tr.item-row td.shop").all_inner_texts()) == {"Second shop"}
        assert shops <= {"Demo shop", "Second shop"}
        # Search by title: every row shown has it.
        page.goto(live.dashboard("/catalog"))
        page.get_by_label("Search").fill(title)
        follow(page, page.get_by_role("button", name="Search"))
        rows = page.locator("tr.item-row td.product-line").all_inner_texts()
        assert rows and all(title.lower() in row.lower() for row in rows)

        # Contacts: found by number, with their shop.
        page.goto(live.dashboard(f"/contacts?q={CUSTOMER[-6:]}"))
        assert page.locator("tr.contact-row").count() == 1
        assert page.locator("tr.contact-row td.shop").inner_text() == "Demo shop"
        page.goto(live.dashboard("/contacts?q=nobody-by-this-name"))
        assert page.locator("tr.contact-row").count() == 0
        assert "No contacts match." in page.locator("#contacts").inner_text()

        # Orders and messages: filtered by shop.
        page.goto(live.dashboard(f"/orders?shop={first.shop_id}"))
        assert page.locator("tr.order-row").count() == 1
        assert page.locator("tr.order-row td.shop").inner_text() == "Demo shop"
        page.goto(live.dashboard("/notifications?q=4917000000002"))
        assert page.locator("tr.message-row").count() == 1
        page.goto(live.dashboard("/notifications?kind=order_shipped"))
        # the kind in words (words.py), as the viewer's language says it
        assert set(page.locator("tr.message-row td:nth-child(3)").all_inner_texts()) == {"Order shipped"}

        # Malformed requests: 400 with the reason.
        for path, reason in (
            ("/catalog?page=0", "page must be a number from 1"),
            ("/contacts?shop=abc", "shop must be a shop's number"),
            ("/orders?q=" + "x" * 101, "q is longer than 100 characters"),
            ("/notifications?kind=nonsense", "no messages of that kind"),
        ):
            response = page.goto(live.dashboard(path))
            assert response is not None and response.status == 400, path
            assert reason in page.locator("main").inner_text(), path
