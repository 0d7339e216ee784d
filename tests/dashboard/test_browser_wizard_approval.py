"""The wizard's approval path in a real browser: the owner types the store's address, approves on the (sandbox)
WooCommerce screen and comes back connected. Counts what the owner typed and clicked."""

from __future__ import annotations

import time
from typing import Any

from connector_woocommerce.sandbox import WooCommerceSandbox

from .conftest import Live, log_in


def test_woocommerce_connects_by_approval_in_the_browser(live: Live, page: Any) -> None:
    live.runtime.config.onboarding.allow_private_callbacks = True  # the sandbox store posts to 127.0.0.1
    with WooCommerceSandbox(options={"allow_local_callbacks": True}) as store:
        log_in(page, live)
        started = time.monotonic()
        typed = clicks = 0
        page.goto(live.dashboard("/setup/shop?platform=woocommerce"))
        assert page.locator("#approval").is_visible()
        # the approval comes first; the manual credentials are the "advanced" part below it
        assert page.locator("#approval").bounding_box()["y"] < page.locator("#advanced").bounding_box()["y"]
        page.locator("#approval-store").fill(store.url)
        typed += 1
        page.locator("#approval-start").click()
        clicks += 1
        page.get_by_text("Chatshop Connector would like to connect to your store").wait_for()
        page.locator("#wc-auth-approve").click()
        clicks += 1
        page.wait_for_url("**/dashboard/setup/channel")
        assert "Connected to" in page.locator("#wizard-done").inner_text()
        seconds = time.monotonic() - started

    rt = live.runtime
    (shop,) = rt.connections.shops()
    settings = rt.connections.settings_of(shop)
    assert shop.platform == "woocommerce" and settings["consumer_key"].startswith("ck_")
    assert settings["webhook_secret"] and "webhook_secret" not in shop.settings
    print(f"\nWooCommerce by approval: {typed} typed field, {clicks} clicks, {seconds:.1f} s")
    assert (typed, clicks) == (1, 2)


def test_shopify_installs_by_approval_in_the_browser(live: Live, page: Any) -> None:
    from connector_shopify.sandbox import ShopifySandbox

    rt = live.runtime
    rt.config.onboarding.allow_private_callbacks = True
    callback = f"{rt.config.public_url}/dashboard/connect/shopify/callback"
    with ShopifySandbox(options={"redirect_urls": [callback]}) as shop:
        rt.plugin_settings["shopify"] = {
            "app_client_id": shop.options["client_id"],
            "app_client_secret": shop.options["client_secret"],
            "admin_url_template": shop.url,
        }
        log_in(page, live)
        started = time.monotonic()
        typed = clicks = 0
        page.goto(live.dashboard("/setup/shop?platform=shopify"))
        page.locator("#approval-shop").fill("chatshop-sandbox")
        typed += 1
        page.locator("#approval-start").click()
        clicks += 1
        page.locator("#install-app").click()  # Shopify's install screen
        clicks += 1
        page.wait_for_url("**/dashboard/setup/channel")
        assert "Connected to" in page.locator("#wizard-done").inner_text()
        seconds = time.monotonic() - started
    (row,) = rt.connections.shops()
    assert rt.connections.settings_of(row)["auth_mode"] == "oauth"
    print(f"\nShopify by approval: {typed} typed field, {clicks} clicks, {seconds:.1f} s")
    assert (typed, clicks) == (1, 2)
