"""Reading a WooCommerce catalog: mapping, variations, incremental reads, settings and the connection test."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from connector_woocommerce.adapter import _READ_AHEAD, WooCommerceAdapter
from connector_woocommerce.mapping import simple_variant, variation_variant
from connector_woocommerce.sandbox import WooCommerceSandbox

from connector.errors import ConnectionTestError, SettingsError
from connector.model import Availability, Variant
from connector.sandbox.recorder import WebhookRecorder
from connector.sandbox.seed import SeedProduct, iter_products
from tests.served import Served, ServedRequest

from .conftest import API


def test_variations_are_mapped_with_the_parent(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session
) -> None:
    product = api.get(f"{sandbox.url}{API}/products", params={"type": "variable", "per_page": 1}).json()[0]
    raw = api.get(f"{sandbox.url}{API}/products/{product['id']}/variations", params={"orderby": "id"}).json()
    variants = {v.external_id: v for v in adapter.get_variants([str(product["id"])])}
    assert set(variants) == {str(v["id"]) for v in raw}
    for item in raw:
        v = variants[str(item["id"])]
        options = {a["name"]: a["option"] for a in item["attributes"]}
        assert v.attributes == options
        assert v.title == f"{product['name']} - {', '.join(options.values())}"
        assert v.group_id == v.product_external_id == str(product["id"])
        assert v.sku == item["sku"] and v.price.amount == Decimal(item["regular_price"])
        assert v.price.currency == "EUR"
        assert v.link == item["permalink"] and "attribute_size=" in v.link
        assert v.image_url == product["images"][0]["src"]
        assert v.brand == product["brands"][0]["name"] and v.collections == [product["categories"][0]["name"]]
        assert "<p>" not in v.description and v.description
        assert v.stock_quantity == item["stock_quantity"]


def test_the_fields_asked_for_are_all_the_mapping_reads(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session
) -> None:
    """The catalog read asks only for the fields it maps (``_fields``): every variant comes out exactly as it
    does from the shop's whole answers."""
    sandbox.set_published(sandbox.variant_ids()[0], False)
    expected: list[Variant] = []
    page = 1
    while products := api.get(
        f"{sandbox.url}{API}/products", params={"per_page": 100, "page": page, "orderby": "id", "order": "asc"}
    ).json():
        for product in products:
            if product["type"] == "variable":
                variations = api.get(
                    f"{sandbox.url}{API}/products/{product['id']}/variations",
                    params={"per_page": 100, "orderby": "id", "order": "asc"},
                ).json()
                expected += [variation_variant(product, v, "EUR") for v in variations]
            else:
                expected.append(simple_variant(product, "EUR"))
        page += 1
    assert len(expected) > 100 and any(not v.published for v in expected)
    assert list(adapter.iter_variants()) == expected


def test_draft_products_are_read_unpublished(adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox) -> None:
    simple = next(v for v in adapter.iter_variants() if v.external_id == v.product_external_id)
    sandbox.set_published(simple.external_id, False)
    (read,) = adapter.get_variants([simple.external_id])
    assert read.published is False


def test_untracked_stock_is_none_and_backorders_are_available(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox
) -> None:
    simple = next(v for v in adapter.iter_variants() if v.external_id == v.product_external_id)
    with sandbox.store.lock:  # no control endpoint for these: edit the store as wp-admin would
        post = sandbox.store.posts[int(simple.external_id)]
        post.manage_stock, post.stock_quantity, post.stock_status = False, None, "onbackorder"
        sandbox.store._touch(post)
    (read,) = adapter.get_variants([simple.external_id])
    assert read.stock_quantity is None and read.availability is Availability.AVAILABLE_FOR_ORDER


def test_a_variation_change_brings_its_product_into_the_incremental_read(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session
) -> None:
    product = api.get(f"{sandbox.url}{API}/products", params={"type": "variable", "per_page": 1}).json()[0]
    time.sleep(1.1)
    since = datetime.now(UTC)
    sandbox.set_price(str(product["variations"][-1]), Decimal("77.00"))
    changed = {v.external_id: v for v in adapter.iter_variants(updated_since=since)}
    assert set(changed) == {str(v) for v in product["variations"]}
    assert changed[str(product["variations"][-1])].price.amount == Decimal("77.00")


def test_get_variants_ignores_unknown_ids(adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox) -> None:
    known = sandbox.variant_ids()[0]
    assert [v.external_id for v in adapter.get_variants([known, "999999", "gid://shopify/Product/1"])] == [known]


def _read_all(products: list[SeedProduct], **options: Any) -> tuple[int, list[ServedRequest], list[ServedRequest]]:
    """Read the whole catalog of a sandbox seeded with ``products``: (variants, requests until the first variant
    arrived, every request)."""
    with WooCommerceSandbox(products=products, options=options) as sb:
        served = Served(sb)
        adapter = WooCommerceAdapter(WooCommerceAdapter.validate_settings(sb.connection_settings()))
        variants = adapter.iter_variants()
        next(variants)
        first = served.api()
        count = 1 + sum(1 for _ in variants)
        return count, first, served.api()


def _assert_streamed(products: list[SeedProduct], first: list[ServedRequest], every: list[ServedRequest]) -> int:
    """Every page of products listed in order, the first variant out before more than the pages read ahead were
    asked for, and nothing else read but the currency. Returns the page size."""
    listings = [r for r in every if r.path.endswith("/products")]
    per_page = int(listings[0].query["per_page"])
    pages = -(-len(products) // per_page)
    assert [int(r.query.get("page", 1)) for r in listings] == list(range(1, pages + 1))
    # Streamed: when the first variant arrives, only the first page and the few read ahead of it (and their
    # products' variations) were read.
    read_first = [int(r.query.get("page", 1)) for r in first if r.path.endswith("/products")]
    assert read_first == list(range(1, len(read_first) + 1)) and len(read_first) <= 1 + _READ_AHEAD < pages
    assert len(first) <= (1 + _READ_AHEAD) * (1 + per_page)
    others = [r.path for r in every if not r.path.endswith(("/products", "/variations"))]
    assert others == [f"{API}/settings/general/woocommerce_currency"]  # the shop's currency, read once
    return per_page


def test_large_catalog_streams_page_by_page() -> None:
    """3,000 variants are read a page of products at a time, with the variations of that page's variable products
    in as few pages of ``GET /variations?parent=...`` as hold them (WooCommerce 10.3+), as they are consumed;
    never one request per product or per variant. Work done, not wall time."""
    products = list(iter_products(n_variants=3000))
    count, first, every = _read_all(products)
    assert count == 3000
    per_page = _assert_streamed(products, first, every)
    variation_reads = [r for r in every if r.path.endswith("/variations")]
    assert all(r.path == f"{API}/variations" for r in variation_reads)
    expected = 0
    for start in range(0, len(products), per_page):
        n = sum(len(p.variants) for p in products[start : start + per_page] if len(p.variants) > 1)
        expected += -(-n // 100)
    assert len(variation_reads) == expected < len(products) // 10


def test_a_store_before_10_3_is_read_one_variation_list_per_product() -> None:
    """Without ``GET /variations`` (WooCommerce before 10.3 answers ``rest_no_route``), the read asks once, then
    lists each variable product's variations under the product, as those versions require."""
    products = list(iter_products(n_variants=1000))
    variable = sum(1 for p in products if len(p.variants) > 1)
    count, first, every = _read_all(products, variations_route=False)
    assert count == 1000
    _assert_streamed(products, first, every)
    assert [r.path for r in every if r.path == f"{API}/variations"] == [f"{API}/variations"]  # the one 404
    per_product = [r for r in every if r.path.endswith("/variations") and r.path != f"{API}/variations"]
    assert len(per_product) == variable


# --------------------------------------------------------------------------- settings and connection


def test_plain_http_is_refused_for_remote_stores(sandbox: WooCommerceSandbox) -> None:
    settings = {**sandbox.connection_settings(), "shop_url": "http://shop.example.com"}
    with pytest.raises(SettingsError) as excinfo:
        WooCommerceAdapter.validate_settings(settings)
    assert "https" in excinfo.value.errors["shop_url"]
    https = WooCommerceAdapter.validate_settings({**settings, "shop_url": "https://shop.example.com/"})
    assert https["shop_url"] == "https://shop.example.com"


def test_connection_reports_site_and_currency(adapter: WooCommerceAdapter) -> None:
    info = adapter.test_connection()
    assert info.name == "Chatshop Demo Store" and info.currency == "EUR"


def test_read_only_key_is_reported() -> None:
    with WooCommerceSandbox(options={"key_permissions": "read"}) as sb:
        adapter = WooCommerceAdapter(WooCommerceAdapter.validate_settings(sb.connection_settings()))
        with pytest.raises(ConnectionTestError, match="Read/Write"):
            adapter.test_connection()


def test_wrong_secret_names_what_to_fix(sandbox: WooCommerceSandbox) -> None:
    settings = {**sandbox.connection_settings(), "consumer_secret": "cs_wrong"}
    adapter = WooCommerceAdapter(WooCommerceAdapter.validate_settings(settings))
    # over plain HTTP (the sandbox) requests are OAuth-signed: a wrong secret shows as a signature that does not match
    with pytest.raises(ConnectionTestError, match=r"refused the consumer key/secret.*Invalid signature"):
        adapter.test_connection()


def test_a_url_that_is_not_wordpress(sandbox: WooCommerceSandbox) -> None:
    with WebhookRecorder() as not_wordpress:  # answers 200 with an empty body to everything
        settings = {**sandbox.connection_settings(), "shop_url": not_wordpress.url}
        adapter = WooCommerceAdapter(WooCommerceAdapter.validate_settings(settings))
        with pytest.raises(ConnectionTestError, match="not a WordPress REST API"):
            adapter.test_connection()


def test_a_freshly_started_shop_has_nothing_changed_in_the_last_minutes(adapter: WooCommerceAdapter) -> None:
    # The seeded catalog existed before the connector came: an incremental sync right after the first full one
    # (whose cursor overlaps two minutes) must read nothing, not the whole shop again.
    since = datetime.now(UTC) - timedelta(minutes=2)
    assert list(adapter.iter_variants(updated_since=since)) == []
    assert list(adapter.iter_variants())  # the catalog is there
