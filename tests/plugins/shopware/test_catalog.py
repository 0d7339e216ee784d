"""Shopware products as variants: inheritance, options, incremental reads, and speed on a large catalog."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from connector_shopware.adapter import ShopwareAdapter
from connector_shopware.sandbox import ShopwareSandbox

from connector.model import Availability
from connector.sandbox.seed import iter_products


def test_variants_inherit_from_their_parent(adapter: ShopwareAdapter, sandbox: ShopwareSandbox) -> None:
    parent_id = next(iter(sandbox.store.children))
    variants = adapter.get_variants([parent_id])
    assert {v.external_id for v in variants} == set(sandbox.store.children[parent_id])
    parent = sandbox.store.products[parent_id]
    for v in variants:
        assert v.title == parent["name"] and v.brand and v.collections and v.image_url
        assert set(v.attributes) == {"size", "color"}
        assert v.link.startswith(sandbox.url + "/") and v.sku in v.link


def test_parent_change_reaches_every_variant_incrementally(adapter: ShopwareAdapter, sandbox: ShopwareSandbox) -> None:
    parent_id = next(iter(sandbox.store.children))
    time.sleep(0.01)
    since = datetime.now(UTC)
    sandbox.set_published(parent_id, False)
    changed = list(adapter.iter_variants(updated_since=since))
    assert {v.external_id for v in changed} == set(sandbox.store.children[parent_id])
    assert not any(v.published for v in changed)


def test_backorderable_product_is_available_for_order(adapter: ShopwareAdapter, sandbox: ShopwareSandbox) -> None:
    simple_id = next(pid for pid, p in sandbox.store.products.items() if not p["parentId"] and not p["childCount"])
    sandbox.store.products[simple_id]["isCloseout"] = False  # the merchant allows selling beyond stock
    sandbox.set_stock(simple_id, 0)
    variant = adapter.get_variants([simple_id])[0]
    assert variant.availability is Availability.AVAILABLE_FOR_ORDER and variant.stock_quantity == 0


def test_a_large_catalog_pages_through_every_variant_once() -> None:
    """20,000 variants in pages of 500: every one read, none twice. (How fast is measured by
    ``python -m bench catalog --shop shopware``, not by a timed test.)"""
    products = list(iter_products(n_variants=20_000))
    with ShopwareSandbox(products=products) as sb:
        adapter = ShopwareAdapter(ShopwareAdapter.validate_settings({**sb.connection_settings(), "page_size": 500}))
        ids = [variant.external_id for variant in adapter.iter_variants()]
    assert len(ids) == 20_000
    assert len(set(ids)) == 20_000
