"""The catalog sync engine, over real HTTP from the WooCommerce sandbox into the Graph sandbox's catalog."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from connector.db.models import CatalogItem, SyncRun
from connector.sync.catalog import run_sync
from tests.conftest import Stack, wait_for


def _write_calls(stack: Stack) -> int:
    catalog_id = stack.graph.connection_settings()["catalog_id"]
    return stack.graph.stats()["catalogs"][catalog_id]["write_calls"]


def test_full_sync_puts_every_variant_in_the_catalog_with_price_stock_and_availability(
    quiet_stack: Stack, hooks
) -> None:
    summary = quiet_stack.full_sync()
    shop = {
        v.external_id: v
        for v in quiet_stack.runtime.connections.shop_adapter(quiet_stack.shop_id).iter_variants()
        if v.published
    }
    catalog = quiet_stack.catalog()
    assert set(catalog) == set(shop)
    assert summary.created == len(shop) and summary.failed == 0
    sold_out = [v for v in shop.values() if v.stock_quantity == 0]
    assert sold_out, "the demo catalog has sold-out variants"
    for variant in sold_out:
        assert catalog[variant.external_id]["availability"] == "out of stock"  # sent as sold out, not dropped
    for variant in shop.values():
        item = catalog[variant.external_id]
        assert (
            item["price"].startswith(f"{variant.price.amount:.2f}")
            or Decimal(item["price"].split()[0]) == variant.price.amount
        )
    with quiet_stack.runtime.db.session() as session:
        statuses = {s for (s,) in session.execute(select(CatalogItem.status))}
    assert statuses == {"synced"}
    assert hooks.named("connector_catalog_changed")[0]["summary"].created == len(shop)


def test_resync_with_nothing_changed_makes_no_catalog_write(quiet_stack: Stack) -> None:
    quiet_stack.full_sync()
    calls = _write_calls(quiet_stack)
    summary = quiet_stack.full_sync()
    assert summary.write_calls == 0 and summary.changed == 0
    assert _write_calls(quiet_stack) == calls
    delta = run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="delta")
    assert delta.write_calls == 0


def test_price_to_sale_price_and_back_updates_only_that_item(quiet_stack: Stack) -> None:
    quiet_stack.full_sync()
    variant = quiet_stack.shop.variant_ids()[3]
    price = Decimal(quiet_stack.catalog()[variant]["price"].split()[0])
    quiet_stack.shop.set_price(variant, price, sale_price=(price * Decimal("0.5")).quantize(Decimal("0.01")))
    summary = run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="full")
    assert (summary.updated, summary.created, summary.deleted, summary.write_calls) == (1, 0, 0, 1)
    assert Decimal(quiet_stack.catalog()[variant]["sale_price"].split()[0]) == (price * Decimal("0.5")).quantize(
        Decimal("0.01")
    )
    quiet_stack.shop.set_price(variant, price, sale_price=None)
    run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="full")
    assert not quiet_stack.catalog()[variant].get("sale_price")


def test_sku_change_does_not_create_a_duplicate(quiet_stack: Stack) -> None:
    quiet_stack.full_sync()
    before = quiet_stack.catalog()
    variant = quiet_stack.shop.variant_ids()[0]
    quiet_stack.shop.set_sku(variant, "NEW-SKU-123")
    summary = run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="full")
    after = quiet_stack.catalog()
    assert set(after) == set(before)
    assert summary.created == 0


def test_deleted_and_unpublished_products_leave_the_catalog(quiet_stack: Stack, hooks) -> None:
    quiet_stack.full_sync()
    adapter = quiet_stack.runtime.connections.shop_adapter(quiet_stack.shop_id)
    variants = [v for v in adapter.iter_variants() if v.published]
    gone, hidden = (
        variants[0].product_external_id,
        next(v for v in variants if v.product_external_id != variants[0].product_external_id).product_external_id,
    )
    gone_ids = {v.external_id for v in variants if v.product_external_id == gone}
    hidden_ids = {v.external_id for v in variants if v.product_external_id == hidden}
    quiet_stack.shop.delete_product(gone)
    quiet_stack.shop.set_published(hidden, False)
    summary = run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="full")
    assert summary.deleted == len(gone_ids) + len(hidden_ids)
    assert not (gone_ids | hidden_ids) & set(quiet_stack.catalog())
    quiet_stack.shop.set_published(hidden, True)
    run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="full")
    assert hidden_ids <= set(quiet_stack.catalog())


def test_stock_change_fires_the_hook_and_every_run_is_recorded(stack: Stack, hooks) -> None:
    stack.full_sync()
    variant = next(v for v in stack.shop.variant_ids() if stack.catalog()[v]["availability"] == "in stock")
    stack.shop.set_stock(variant, 0)
    # The shop's webhook triggers a sync of just that variant in the worker.
    changes = wait_for(
        lambda: [c for c in hooks.named("connector_stock_changed") if c["variant_external_id"] == variant]
    )
    assert changes[-1]["old_quantity"] > 0 and changes[-1]["new_quantity"] == 0
    with stack.runtime.db.session() as session:
        runs = list(session.scalars(select(SyncRun).order_by(SyncRun.id)))
    assert [r.status for r in runs][-2:] == ["succeeded", "succeeded"]
    assert runs[0].created > 0 and runs[0].finished_at is not None


def test_webhook_driven_sync_syncs_only_the_changed_variant(stack: Stack) -> None:
    """A stock change in the shop reaches the WhatsApp catalog through a sync of just that variant (Meta asks for
    15 minutes): one variant read, one catalog write, instead of a pass over the whole shop. Work done, not wall
    time: how long it takes depends on the machine."""
    stack.full_sync()
    with stack.runtime.db.session() as session:
        before = session.scalar(select(func.max(SyncRun.id)))
    variant = next(v for v in stack.shop.variant_ids() if stack.catalog()[v]["availability"] == "in stock")
    stack.shop.set_stock(variant, 0)
    wait_for(lambda: stack.catalog()[variant]["availability"] == "out of stock", timeout=120)

    def runs_since() -> list[SyncRun]:
        with stack.runtime.db.session() as session:
            return list(session.scalars(select(SyncRun).where(SyncRun.id > before).order_by(SyncRun.id)))

    runs = wait_for(lambda: [r for r in runs_since() if r.finished_at is not None] or None, timeout=120)
    assert [(r.mode, r.trigger, r.status) for r in runs] == [("items", "webhook", "succeeded")]
    assert (runs[0].read, runs[0].updated, runs[0].write_calls) == (1, 1, 1)


def _variable_products(stack: Stack) -> dict[str, list[str]]:
    """Product id -> variant ids, for products with more than one variant."""
    groups: dict[str, list[str]] = {}
    for v in stack.runtime.connections.shop_adapter(stack.shop_id).iter_variants():
        groups.setdefault(v.product_external_id, []).append(v.external_id)
    return {p: ids for p, ids in groups.items() if len(ids) > 1}


def test_variant_changing_group_keeps_its_item_and_moves_it(quiet_stack: Stack) -> None:
    quiet_stack.full_sync()
    before = quiet_stack.catalog()
    source, target = list(_variable_products(quiet_stack))[:2]
    moving = _variable_products(quiet_stack)[source][0]
    quiet_stack.shop.control("POST", "move", json={"variant_id": moving, "product_id": target})
    summary = run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="full")
    after = quiet_stack.catalog()
    assert set(after) == set(before)  # same retailer id: no duplicate, nothing lost
    assert after[moving]["item_group_id"] == target
    assert summary.created == 0 and summary.deleted == 0 and summary.updated >= 1


def _items(stack: Stack) -> dict[str, CatalogItem]:
    with stack.runtime.db.session() as session:
        return {i.retailer_id: i for i in session.scalars(select(CatalogItem))}


def test_items_our_validation_refuses_stay_out_and_say_why(quiet_stack: Stack) -> None:
    groups = _variable_products(quiet_stack)
    product = next(iter(groups))
    quiet_stack.shop.control("POST", "product", json={"product_id": product, "image": None, "name": "x" * 250})
    summary = quiet_stack.full_sync()
    assert summary.failed == len(groups[product])
    items = _items(quiet_stack)
    catalog = quiet_stack.catalog()
    for variant in groups[product]:
        assert items[variant].status == "invalid"
        reasons = " ".join(items[variant].errors)
        assert "image_link" in reasons and "title" in reasons
        assert variant not in catalog
    # Fixed in the shop, the items go in on the next sync.
    quiet_stack.shop.control(
        "POST", "product", json={"product_id": product, "image": "https://images.example.com/x.jpg", "name": "Fixed"}
    )
    run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="full")
    assert set(groups[product]) <= set(quiet_stack.catalog())
    assert {_items(quiet_stack)[v].status for v in groups[product]} == {"synced"}


def test_errors_the_catalog_reports_per_item_show_on_the_item(quiet_stack: Stack) -> None:
    refused = quiet_stack.shop.variant_ids()[2]
    quiet_stack.graph.set_options(processing_errors={refused: "Image could not be downloaded (HTTP 404)"})
    summary = quiet_stack.full_sync()
    assert summary.failed == 1
    items = _items(quiet_stack)
    assert items[refused].status == "error"
    assert items[refused].errors == ["Image could not be downloaded (HTTP 404)"]
    assert {i.status for r, i in items.items() if r != refused} == {"synced"}


def test_two_syncs_of_one_shop_never_run_at_once(quiet_stack: Stack) -> None:
    import threading

    from connector.sync.catalog import SyncBusy

    outcomes: list[str] = []
    started = threading.Barrier(2)

    def sync() -> None:
        started.wait()
        try:
            run_sync(quiet_stack.runtime, quiet_stack.shop_id, mode="full")
            outcomes.append("ran")
        except SyncBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["busy", "ran"]
    assert (
        quiet_stack.graph.stats()["catalogs"][quiet_stack.graph.connection_settings()["catalog_id"]]["write_calls"] == 1
    )
