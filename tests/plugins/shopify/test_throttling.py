"""Shopify's leaky bucket: THROTTLED answers, and an adapter that waits instead of failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from connector_shopify.adapter import ShopifyAdapter
from connector_shopify.sandbox import ShopifySandbox

from tests.plugins.shopify.conftest import post


def test_empty_bucket_answers_throttled() -> None:
    with ShopifySandbox(options={"bucket_size": 100, "restore_rate": 1}) as sandbox:
        sandbox.throttle()
        response = post(sandbox, "{ products(first: 10) { nodes { id } } }")
        assert response.status_code == 200
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 12 and cost["actualQueryCost"] is None
        assert cost["throttleStatus"]["currentlyAvailable"] < 12


@pytest.mark.parametrize("status", [200, 429])
def test_adapter_waits_for_the_bucket(status: int) -> None:
    # A small, fast-refilling bucket: the adapter must wait rather than fail.
    options = {"bucket_size": 900, "restore_rate": 2000, "throttle_status": status}
    with ShopifySandbox(options=options) as sandbox:
        adapter = ShopifyAdapter(ShopifyAdapter.validate_settings(sandbox.connection_settings()))
        ids = sandbox.variant_ids()
        sandbox.throttle()  # bucket empty
        found = adapter.get_variants(ids[:3])
        assert {v.external_id for v in found} == set(ids[:3])


def test_adapter_paces_itself_from_throttle_status() -> None:
    # A one-variant fetch reserves 14 points (a page sized to the answer); with 5 points left the second must wait.
    with ShopifySandbox(options={"bucket_size": 1000, "restore_rate": 2000}) as sandbox:
        adapter = ShopifyAdapter(ShopifyAdapter.validate_settings(sandbox.connection_settings()))
        ids = sandbox.variant_ids()
        adapter.get_variants(ids[:1])
        sandbox.throttle(995)
        adapter.get_variants(ids[1:2])
        assert adapter.gql.waited > 0


def test_an_incremental_read_waits_for_the_bucket_instead_of_being_throttled() -> None:
    """A cold client (no answer seen yet) reading changes from a nearly empty bucket: each kind of page waits for its
    known cost, so Shopify never answers THROTTLED."""
    with ShopifySandbox(options={"bucket_size": 1000, "restore_rate": 500}) as sandbox:
        ids = sandbox.variant_ids()
        since = datetime.now(UTC) - timedelta(seconds=1)
        for variant_id in ids[:: max(1, len(ids) // 60)]:
            sandbox.set_stock(variant_id, 7)
        adapter = ShopifyAdapter(ShopifyAdapter.validate_settings(sandbox.connection_settings()))
        sandbox.throttle(990)
        changed = list(adapter.iter_variants(updated_since=since))
        meter = sandbox.control("GET", "cost")
    assert len(changed) >= 60
    assert meter["throttled"] == 0 and adapter.gql.waited > 0
