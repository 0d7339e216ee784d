"""Shopify install by approval against the sandbox shop over real HTTP: the grant screen, the signed return, the
one-time state, expiring tokens renewed without the owner, the Dev Dashboard client-credentials path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from connector_shopify import oauth
from connector_shopify.connect import requested_scopes
from connector_shopify.sandbox import ShopifySandbox

from connector.db.models import ShopConnection
from connector.runtime import Runtime

from .conftest import approval_url, query_of, wizard_error

SHOP = "chatshop-sandbox.myshopify.com"
CALLBACK = "/dashboard/connect/shopify/callback"


@pytest.fixture
def sandbox(runtime: Runtime) -> Iterator[ShopifySandbox]:
    redirect = f"{runtime.config.public_url}{CALLBACK}"
    with ShopifySandbox(options={"redirect_urls": [redirect], "access_scopes": []}) as sb:
        runtime.plugin_settings["shopify"] = {
            "app_client_id": sb.options["client_id"],
            "app_client_secret": sb.options["client_secret"],
            "admin_url_template": sb.url,
        }
        yield sb


def approve(owner: Any, sandbox: ShopifySandbox, shop: str = SHOP) -> list[tuple[str, str]]:
    """Type the shop domain, follow to the grant screen, click "Install app": the query Shopify sends us back with."""
    start = owner.post(
        "/dashboard/connect/shopify/start", data={"csrf_token": owner.csrf, "shop": shop, "name": "Mine"}
    )
    url = approval_url(start)
    screen = requests.get(url, timeout=30)
    assert screen.status_code == 200 and "Install app" in screen.text
    form = dict(query_of(url))
    back = requests.post(
        f"{sandbox.url}/admin/oauth/authorize",
        data={k: form[k] for k in ("client_id", "scope", "redirect_uri", "state")},
        allow_redirects=False,
        timeout=30,
    )
    assert back.status_code == 302
    assert back.headers["Location"].startswith(form["redirect_uri"])
    return query_of(back.headers["Location"])


def come_back(owner: Any, query: list[tuple[str, str]]) -> Any:
    return owner.get(f"{CALLBACK}?{urlencode(query)}")


def shops(runtime: Runtime) -> list[ShopConnection]:
    return runtime.connections.shops()


def test_hmac_matches_shopifys_published_vectors() -> None:
    pairs = [
        ("code", "a94a110d86d2452eb3e2af4cfb8a3828"),
        ("shop", "some-shop.myshopify.com"),
        ("timestamp", "1337178173"),
    ]
    assert oauth.query_hmac(pairs, "hush") == "2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2"


def test_owner_types_the_domain_approves_and_comes_back_connected(
    runtime: Runtime, owner: Any, sandbox: ShopifySandbox
) -> None:
    start = owner.post("/dashboard/connect/shopify/start", data={"csrf_token": owner.csrf, "shop": SHOP})
    asked = dict(query_of(approval_url(start)))
    # exactly what the features need: write_orders already grants read_orders
    assert asked["scope"] == "read_products,read_inventory,write_orders,read_fulfillments"
    assert requested_scopes() == asked["scope"].split(",")
    assert asked["grant_options[]"] == "" and len(asked["state"]) == 64

    done = come_back(owner, approve(owner, sandbox))
    assert done.status_code == 303 and done.headers["Location"].endswith("/dashboard/setup/channel")
    (row,) = shops(runtime)
    assert row.platform == "shopify" and row.name == "Mine"
    settings = runtime.connections.settings_of(row)
    assert settings["auth_mode"] == "oauth" and settings["refresh_token"].startswith("shprt_")
    assert settings["token_expires_at"]
    # tokens are stored encrypted, never in the plain settings column
    assert "access_token" not in row.settings and "refresh_token" not in row.settings
    assert settings["access_token"] not in (row.secrets or "") and settings["refresh_token"] not in (row.secrets or "")
    issued = sandbox.control("GET", "oauth/issued")["issued"]
    assert issued[-1]["expires_in"] == 3600  # an expiring offline token was asked for (expiring=1)


def test_a_replayed_return_is_refused(runtime: Runtime, owner: Any, sandbox: ShopifySandbox) -> None:
    query = approve(owner, sandbox)
    assert come_back(owner, query).headers["Location"].endswith("/setup/channel")
    again = come_back(owner, query)
    assert again.headers["Location"].endswith("/setup/shop")
    assert "start" in wizard_error(owner).lower()
    assert len(shops(runtime)) == 1


def test_a_forged_signature_is_refused(runtime: Runtime, owner: Any, sandbox: ShopifySandbox) -> None:
    query = [(k, v + "0" if k == "code" else v) for k, v in approve(owner, sandbox)]
    assert come_back(owner, query).headers["Location"].endswith("/setup/shop")
    assert "hmac" in wizard_error(owner)
    assert shops(runtime) == []


def test_an_unknown_state_is_refused_even_when_signed(runtime: Runtime, owner: Any, sandbox: ShopifySandbox) -> None:
    query = dict(approve(owner, sandbox))
    query["state"] = "f" * 64
    query.pop("hmac")
    signed = [*query.items(), ("hmac", oauth.query_hmac(list(query.items()), sandbox.options["client_secret"]))]
    assert come_back(owner, signed).headers["Location"].endswith("/setup/shop")
    assert shops(runtime) == []


def test_an_expired_code_is_refused(runtime: Runtime, owner: Any) -> None:
    redirect = f"{runtime.config.public_url}{CALLBACK}"
    with ShopifySandbox(options={"redirect_urls": [redirect], "code_ttl": 0}) as sb:
        runtime.plugin_settings["shopify"] = {
            "app_client_id": sb.options["client_id"],
            "app_client_secret": sb.options["client_secret"],
            "admin_url_template": sb.url,
        }
        assert come_back(owner, approve(owner, sb)).headers["Location"].endswith("/setup/shop")
    assert "invalid_grant" in wizard_error(owner)
    assert shops(runtime) == []


def test_a_redirect_uri_not_on_the_allow_list_is_refused_by_the_shop(owner: Any, sandbox: ShopifySandbox) -> None:
    url = oauth.authorize_url(
        sandbox.url, sandbox.options["client_id"], ["read_products"], "https://evil.example/cb", "s"
    )
    screen = requests.get(url, timeout=30)
    assert screen.status_code == 400 and "redirect_uri is not whitelisted" in screen.text


def test_a_domain_that_is_no_shopify_shop_is_refused(runtime: Runtime, owner: Any, sandbox: ShopifySandbox) -> None:
    start = owner.post("/dashboard/connect/shopify/start", data={"csrf_token": owner.csrf, "shop": "evil.example.com"})
    assert start.headers["Location"].endswith("/setup/shop")
    assert "myshopify.com" in wizard_error(owner)


def test_expired_tokens_are_renewed_without_the_owner(runtime: Runtime, owner: Any, sandbox: ShopifySandbox) -> None:
    come_back(owner, approve(owner, sandbox))
    (row,) = shops(runtime)
    before = runtime.connections.settings_of(row)

    # after a 401: Shopify expired the token early
    sandbox.expire_tokens()
    assert runtime.connections.test("shop", row.id).name
    after_401 = runtime.connections.settings_of(runtime.connections.get_shop(row.id))
    assert after_401["access_token"] != before["access_token"]
    assert after_401["refresh_token"] != before["refresh_token"]  # rotated, and the new one stored

    # before expiry: a token about to expire is renewed before it is used
    runtime.connections.update_settings("shop", row.id, {"token_expires_at": "2000-01-01T00:00:00+00:00"})
    issued = len(sandbox.control("GET", "oauth/issued")["issued"])
    assert runtime.connections.test("shop", row.id).name
    assert len(sandbox.control("GET", "oauth/issued")["issued"]) == issued + 1
    stored = runtime.connections.settings_of(runtime.connections.get_shop(row.id))
    assert stored["access_token"] not in (after_401["access_token"], before["access_token"])
    assert stored["token_expires_at"] > "2026"


def test_a_dev_dashboard_app_connects_with_client_credentials(
    runtime: Runtime, owner: Any, sandbox: ShopifySandbox
) -> None:
    # the scopes selected in the app's version in the Dev Dashboard
    sandbox.set_access_scopes(["read_products", "read_inventory", "write_orders", "read_fulfillments"])
    data = {
        "csrf_token": owner.csrf,
        "shop": SHOP,
        "client_id": sandbox.options["client_id"],
        "client_secret": "wrong",
    }
    refused = owner.post("/dashboard/connect/shopify/client-credentials", data=data)
    assert refused.headers["Location"].endswith("/setup/shop") and "invalid_client" in wizard_error(owner)
    done = owner.post(
        "/dashboard/connect/shopify/client-credentials",
        data={**data, "client_secret": sandbox.options["client_secret"]},
    )
    assert done.headers["Location"].endswith("/setup/channel"), wizard_error(owner)
    (row,) = shops(runtime)
    settings = runtime.connections.settings_of(row)
    assert settings["auth_mode"] == "client_credentials" and not settings["refresh_token"]
    sandbox.expire_tokens()
    assert runtime.connections.test("shop", row.id).name  # a new 24-hour token, requested without the owner
    assert (
        runtime.connections.settings_of(runtime.connections.get_shop(row.id))["access_token"]
        != settings["access_token"]
    )


def test_the_wizard_offers_the_approval_first_and_the_manual_fields_as_advanced(owner: Any) -> None:
    page = owner.get("/dashboard/setup/shop?platform=shopify").text
    assert page.index('id="approval-form"') < page.index('id="advanced"')
    assert "Dev Dashboard" in page and "client credentials" in page
    assert urlsplit("/dashboard/connect/shopify/start").path in page


def test_two_processes_renewing_at_once_keep_one_working_token(
    runtime: Runtime, owner: Any, sandbox: ShopifySandbox, tmp_path: Any
) -> None:
    """A second process (its own runtime on the same database) meets the token the first one renewed instead of
    renewing again, which would revoke it (Shopify keeps one expiring token per app and shop)."""
    from connector.config import load_config

    come_back(owner, approve(owner, sandbox))
    (row,) = shops(runtime)
    other = Runtime(
        load_config(overrides=runtime.config.model_dump(exclude={"path"}, by_alias=True)), plugins=runtime.plugins
    )
    try:
        first, second = runtime.connections.shop_adapter(row.id), other.connections.shop_adapter(row.id)
        sandbox.expire_tokens()
        assert first.test_connection().name  # renews (after a 401) and stores the new tokens
        assert second.test_connection().name  # its old token gets 401; it adopts the stored one
        assert first.test_connection().name  # and the first process's token still works
        assert len(sandbox.control("GET", "oauth/issued")["issued"]) == 2  # the install and one renewal
    finally:
        other.close()


def test_a_revoked_refresh_token_says_to_connect_again(runtime: Runtime, owner: Any, sandbox: ShopifySandbox) -> None:
    come_back(owner, approve(owner, sandbox))
    (row,) = shops(runtime)
    sandbox.uninstall()  # revokes every token
    with pytest.raises(Exception, match="connect the shop again"):
        runtime.connections.test("shop", row.id)


def test_an_install_started_from_shopify_is_verified_then_approved(
    runtime: Runtime, owner: Any, sandbox: ShopifySandbox
) -> None:
    pairs = [("shop", SHOP), ("timestamp", str(int(time.time())))]
    signed = [*pairs, ("hmac", oauth.query_hmac(pairs, sandbox.options["client_secret"]))]
    page = owner.get(f"/dashboard/connect/shopify/install?{urlencode(signed)}")
    assert dict(query_of(approval_url(page)))["client_id"] == sandbox.options["client_id"]
    forged = [*pairs, ("hmac", "0" * 64)]
    assert (
        owner.get(f"/dashboard/connect/shopify/install?{urlencode(forged)}").headers["Location"].endswith("/setup/shop")
    )
    assert "hmac" in wizard_error(owner)


def test_connecting_the_same_shop_again_reenables_the_same_connection(
    runtime: Runtime, owner: Any, sandbox: ShopifySandbox
) -> None:
    from connector.onboarding import lifecycle

    come_back(owner, approve(owner, sandbox))
    (row,) = shops(runtime)
    lifecycle.set_state(runtime, row.id, enabled=False, note="The app was uninstalled from the shop on 2026-12-07.")
    old = runtime.connections.settings_of(row)
    come_back(owner, approve(owner, sandbox))
    (again,) = shops(runtime)
    assert again.id == row.id and again.enabled and again.status_note is None
    assert runtime.connections.settings_of(again)["access_token"] != old["access_token"]
