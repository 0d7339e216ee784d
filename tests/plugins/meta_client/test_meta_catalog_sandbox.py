"""MetaCatalog and GraphClient against the Graph sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from connector_meta.catalog import HANDLE_SEPARATOR, MetaCatalog, catalog_fields
from connector_meta.graph import GraphClient, graph_error
from connector_meta.sandbox import GraphSandbox
from flask import Flask, jsonify

from connector import model
from connector.adapters import CatalogPush
from connector.errors import NotFound, RateLimited
from connector.sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def graph_sandbox() -> Iterator[GraphSandbox]:
    sandbox = GraphSandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(graph_sandbox: GraphSandbox) -> GraphSandbox:
    graph_sandbox.reset()
    graph_sandbox.set_options(
        catalog_calls_per_minute=600,
        max_payload_bytes=28 * 1024 * 1024,
        batch_polls_in_progress=1,
        throttle_http_status=429,
    )
    return graph_sandbox


@pytest.fixture
def graph(sandbox: GraphSandbox) -> GraphClient:
    s = sandbox.connection_settings()
    return GraphClient(graph_url=s["graph_url"], api_version=s["api_version"], access_token=s["access_token"])


@pytest.fixture
def catalog(sandbox: GraphSandbox, graph: GraphClient) -> MetaCatalog:
    return MetaCatalog(graph, sandbox.connection_settings()["catalog_id"])


def variant(n: int, **overrides) -> model.Variant:
    values = dict(
        external_id=f"v-{n}",
        product_external_id=f"p-{n // 4}",
        title=f"Shirt {n}",
        price=model.Money("19.90", "EUR"),
        availability=model.Availability.IN_STOCK if n % 5 else model.Availability.OUT_OF_STOCK,
        description="Organic cotton",
        link=f"https://shop.example/p/{n}",
        image_url=f"https://shop.example/i/{n}.jpg",
        brand="Acme",
        attributes={"size": ["S", "M", "L", "XL"][n % 4]},
        stock_quantity=0 if n % 5 == 0 else n % 7 + 1,
    )
    values.update(overrides)
    return model.Variant(**values)


def upserts(variants: list[model.Variant]) -> list[CatalogPush]:
    return [CatalogPush(v.external_id, "UPDATE", catalog_fields(v)) for v in variants]


def test_ten_thousand_variants_take_two_calls_and_read_back_page_by_page(sandbox, catalog: MetaCatalog) -> None:
    variants = [variant(n) for n in range(10_000)]
    requests = upserts(variants)
    batches = [requests[i : i + catalog.max_batch_size] for i in range(0, len(requests), catalog.max_batch_size)]
    results = [catalog.push(batch) for batch in batches]
    assert len(batches) == 2 and all(r.handle and not r.item_errors for r in results)
    assert sandbox.stats()["catalogs"][catalog.catalog_id]["write_calls"] == 2

    catalog.page_size = 1000
    items = {item.retailer_id: item for item in catalog.iter_items()}
    assert len(items) == 10_000
    sold_out = items["v-0"]
    assert sold_out.availability is model.Availability.OUT_OF_STOCK and sold_out.inventory == 0
    assert sold_out.price == model.Money("19.90", "EUR") and sold_out.item_group_id == "p-0"
    assert items["v-6"].inventory == 7 and items["v-6"].link == "https://shop.example/p/6"


def test_item_errors_come_back_per_retailer_id(sandbox, catalog: MetaCatalog) -> None:
    good = upserts([variant(1)])
    bad = [CatalogPush("v-bad", "UPDATE", {**catalog_fields(variant(2)), "image_link": ""})]
    result = catalog.push(good + bad)
    assert result.handle
    assert list(result.item_errors) == ["v-bad"] and "image_link" in result.item_errors["v-bad"][0]
    assert catalog.validate_item(bad[0].fields) == ["missing image_link"]  # caught before sending, too

    first = catalog.batch_status(result.handle)
    assert not first.finished and first.status == "in progress"
    final = catalog.batch_status(result.handle)
    assert final.finished and final.status == "finished"
    assert "v-bad" in final.item_errors and "v-1" not in final.item_errors


def test_deletes_and_hidden_items(sandbox, catalog: MetaCatalog) -> None:
    catalog.push(upserts([variant(1), variant(2)]))
    catalog.push([CatalogPush("v-1", "DELETE"), *upserts([variant(2, published=False)])])
    items = sandbox.catalog_items(catalog.catalog_id)
    assert [(i["id"], i["visibility"]) for i in items] == [("v-2", "hidden")]


def test_oversized_body_is_split_and_every_handle_is_polled(sandbox, catalog: MetaCatalog) -> None:
    sandbox.set_options(max_payload_bytes=60_000)  # ~150 items per call
    result = catalog.push(upserts([variant(n) for n in range(400)]))
    handles = result.handle.split(HANDLE_SEPARATOR)
    assert len(handles) > 1 and not result.item_errors
    assert len(sandbox.catalog_items(catalog.catalog_id)) == 400
    catalog.batch_status(result.handle)
    assert catalog.batch_status(result.handle).finished

    # With the limit known up front, the client splits before sending instead of waiting for code 1.
    sandbox.reset()
    sandbox.set_options(max_payload_bytes=60_000)
    presplit = MetaCatalog(catalog.graph, catalog.catalog_id, max_payload_bytes=60_000)
    packed = presplit.push(upserts([variant(n) for n in range(400)]))
    assert len(sandbox.catalog_items(catalog.catalog_id)) == 400
    # Packing by size fills each call, so it needs no more calls than halving after a refusal.
    assert 1 < len(packed.handle.split(HANDLE_SEPARATOR)) <= len(handles)


def test_too_many_batch_calls_raise_rate_limited_80014(sandbox, catalog: MetaCatalog) -> None:
    sandbox.set_options(catalog_calls_per_minute=1, throttle_http_status=400)
    catalog.push(upserts([variant(1)]))
    with pytest.raises(RateLimited) as caught:
        catalog.push(upserts([variant(2)]))
    assert caught.value.code == 80014 and caught.value.retry_after and caught.value.retry_after > 0
    assert graph_error(caught.value).details


def test_unknown_objects_raise_not_found_with_graph_details(graph: GraphClient) -> None:
    with pytest.raises(NotFound) as caught:
        graph.get_json("999999/products")
    assert caught.value.code == 100 and caught.value.error_subcode == 33
    assert graph_error(caught.value).type == "GraphMethodException"


def test_push_refuses_more_than_max_batch_size(catalog: MetaCatalog) -> None:
    small = MetaCatalog(catalog.graph, catalog.catalog_id, max_batch_size=2)
    with pytest.raises(ValueError):
        small.push(upserts([variant(n) for n in range(3)]))


# --------------------------------------------------------------------------- usage headers over HTTP


class UsageGraph:
    """A Graph host that reports 100% business-use-case usage, like Meta right before throttling."""

    def __init__(self) -> None:
        self.calls = 0
        app = Flask("usage-graph")

        @app.get("/v25.0/<node>")
        def node(node: str):  # type: ignore[no-untyped-def]
            self.calls += 1
            usage = {
                "1": [
                    {
                        "type": "CATALOG_MANAGEMENT",
                        "call_count": 100,
                        "total_cputime": 10,
                        "total_time": 10,
                        "estimated_time_to_regain_access": 5,
                    }
                ]
            }
            return jsonify({"id": node}), 200, {"X-Business-Use-Case-Usage": json.dumps(usage)}

        self.server = SandboxServer(app)


def test_usage_headers_make_the_client_back_off_without_calling() -> None:
    host = UsageGraph()
    url = host.server.start()
    try:
        graph = GraphClient(graph_url=url, api_version="v25.0", access_token="t")
        assert graph.get_json("123") == {"id": "123"}
        assert graph.usage.percent == 100 and graph.usage.regain_seconds == 300
        with pytest.raises(RateLimited) as caught:
            graph.get_json("123")
        assert 0 < caught.value.retry_after <= 300
        assert host.calls == 1  # Meta asked us to wait: no second request was made
    finally:
        host.server.stop()
