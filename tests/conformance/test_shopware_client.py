"""lib-shopware6-api-base (Admin API and Store API clients) against the Shopware sandbox.

Only the base URLs are the sandbox's. The Admin client authenticates the integration as Shopware's OAuth server
expects it (client credentials grant, ``client_id``/``client_secret`` as HTTP Basic auth).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
from connector_shopware.sandbox import ShopwareSandbox
from lib_shopware6_api_base import (
    ConfShopware6ApiBase,
    Criteria,
    EqualsFilter,
    GrantType,
    HttpMethod,
    Shopware6AdminAPIClientBase,
    Shopware6StoreFrontClientBase,
    ShopwareAPIError,
)

from connector.sandbox.recorder import WebhookRecorder


@pytest.fixture
def sandbox() -> Iterator[ShopwareSandbox]:
    with ShopwareSandbox() as sb:
        yield sb


def config(sandbox: ShopwareSandbox, **overrides: str) -> ConfShopware6ApiBase:
    settings = sandbox.connection_settings()
    values = {
        "shopware_admin_api_url": f"{sandbox.url}/api",
        "shopware_storefront_api_url": f"{sandbox.url}/store-api",
        "client_id": settings["client_id"],
        "client_secret": settings["client_secret"],
        "store_api_sw_access_key": settings["sales_channel_access_key"],
        **overrides,
    }
    # RESOURCE_OWNER is the library's name for the integration's client_credentials grant
    return ConfShopware6ApiBase(grant_type=GrantType.RESOURCE_OWNER, **values)


@pytest.fixture
def admin(sandbox: ShopwareSandbox) -> Iterator[Shopware6AdminAPIClientBase]:
    with Shopware6AdminAPIClientBase(config=config(sandbox)) as client:
        yield client


def test_the_catalog_reads_page_by_page(admin: Shopware6AdminAPIClientBase) -> None:
    counted = admin.request_post("search/product", {"limit": 1, "total-count-mode": 1})
    everything = admin.request_post_paginated("search/product", Criteria(limit=None), junk_size=25)
    ids = [p["id"] for p in everything.data]
    assert len(ids) == len(set(ids)) == counted.total
    parents = admin.request_post("search/product", Criteria(filter=[EqualsFilter(field="parentId", value=None)]))
    assert parents.data and all(p["parentId"] is None for p in parents.data)


def test_a_guest_order_goes_through_the_store_api(sandbox: ShopwareSandbox, admin: Shopware6AdminAPIClientBase) -> None:
    store = Shopware6StoreFrontClientBase(config=config(sandbox))
    country = store.request_post("country", {"limit": 1})["elements"][0]["id"]
    product = next(
        p
        for p in admin.request_post("search/product", {"limit": 50}).data
        if p["childCount"] == 0 and p["available"] and p["active"]
    )
    address = {"firstName": "Ada", "lastName": "Lovelace", "street": "Main St 1", "zipcode": "10115", "city": "Berlin"}
    # The context token comes back in a header, which only the library's raw response shows.
    registered = store._request(
        HttpMethod.POST,
        "account/register",
        {
            "guest": True,
            "email": "ada@example.com",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "acceptedDataProtection": True,
            "storefrontUrl": sandbox.url,
            "billingAddress": {**address, "countryId": country},
        },
    )
    assert registered is not None
    context = {"sw-context-token": registered.headers["sw-context-token"]}
    item = {"id": product["id"], "referencedId": product["id"], "type": "product", "quantity": 2}
    cart = store.request_post("checkout/cart/line-item", {"items": [item]}, update_header_fields=context)
    assert cart["lineItems"][0]["quantity"] == 2
    order = store.request_post("checkout/order", {"customerComment": "via chat"}, update_header_fields=context)
    assert order["orderNumber"] and order["lineItems"][0]["referencedId"] == product["id"]
    found = admin.request_post("search/order", Criteria(filter=[EqualsFilter(field="id", value=order["id"])]))
    assert [o["orderNumber"] for o in found.data] == [order["orderNumber"]]


def test_webhooks_register_and_arrive_signed(sandbox: ShopwareSandbox, admin: Shopware6AdminAPIClientBase) -> None:
    app_id = admin.request_post(
        "search/app", Criteria(filter=[EqualsFilter(field="name", value=sandbox.store.app["name"])])
    ).data[0]["id"]
    variant = sandbox.variant_ids()[0]
    with WebhookRecorder() as recorder:
        admin.request_post(
            "webhook",
            {"name": "chat-stock", "eventName": "product.written", "url": recorder.url + "/sw", "appId": app_id},
        )
        hooks = admin.request_post("search/webhook", {"limit": 10}).data
        assert [h["eventName"] for h in hooks if h["name"] == "chat-stock"] == ["product.written"]
        sandbox.set_stock(variant, 3)
        [delivery] = recorder.wait_for(1)
    # Shopware's app signature: hex HMAC-SHA256 of the raw body with the shop secret
    expected = hmac.new(sandbox.store.shop_secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, delivery.headers["shopware-shop-signature"])


def test_errors_reach_the_library(sandbox: ShopwareSandbox, admin: Shopware6AdminAPIClientBase) -> None:
    with pytest.raises(ShopwareAPIError, match="404"):
        admin.request_get("product/0190d9a5f8a07f3b8f1d1b2c3d4e5f60")
    with (
        Shopware6AdminAPIClientBase(config=config(sandbox, client_secret="wrong")) as wrong,
        pytest.raises(ShopwareAPIError, match="401"),
    ):
        wrong.request_post("search/product", {"limit": 1})
