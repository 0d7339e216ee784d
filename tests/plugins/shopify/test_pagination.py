"""Cursor pagination edge cases and bulk operations."""

from __future__ import annotations

import json
import time

import requests
from connector_shopify.adapter import ShopifyAdapter
from connector_shopify.sandbox import ShopifySandbox

from connector.sandbox.seed import generate
from tests.plugins.shopify.conftest import gql
from tests.served import Served

PAGE = "query($first: Int, $last: Int, $after: String, $before: String, $reverse: Boolean) { products(first: $first, last: $last, after: $after, before: $before, reverse: $reverse) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } }"


def _page(sandbox: ShopifySandbox, **variables: object) -> dict:
    body = gql(sandbox, PAGE, variables)
    assert "errors" not in body, body
    return body["data"]["products"]


def test_pages_cover_everything_once_and_end_exactly() -> None:
    with ShopifySandbox(products=generate(10)) as sandbox:
        seen: list[str] = []
        after = None
        pages = 0
        while True:
            page = _page(sandbox, first=5, after=after)
            seen += [e["node"]["id"] for e in page["edges"]]
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        # 10 products in pages of 5: exactly two pages, the second says there is no next one.
        assert pages == 2 and len(seen) == 10 == len(set(seen))
        assert page["pageInfo"]["hasPreviousPage"] is True
        empty = _page(sandbox, first=5, after=page["pageInfo"]["endCursor"])
        assert empty["edges"] == [] and empty["pageInfo"]["endCursor"] is None


def test_last_before_and_reverse(sandbox: ShopifySandbox) -> None:
    forward = [e["node"]["id"] for e in _page(sandbox, first=60)["edges"]]
    backward = [e["node"]["id"] for e in _page(sandbox, first=60, reverse=True)["edges"]]
    assert backward == forward[::-1]
    tail = _page(sandbox, last=3)
    assert [e["node"]["id"] for e in tail["edges"]] == forward[-3:]
    assert tail["pageInfo"]["hasPreviousPage"] is True
    before = _page(sandbox, last=2, before=tail["pageInfo"]["startCursor"])
    assert [e["node"]["id"] for e in before["edges"]] == forward[-5:-3]


def test_page_size_rules(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, "{ products { nodes { id } } }")
    assert "first or last" in body["errors"][0]["message"]
    body = gql(sandbox, "{ products(first: 251) { nodes { id } } }")
    assert "250" in body["errors"][0]["message"]
    body = gql(sandbox, '{ products(first: 1, after: "garbage") { nodes { id } } }')
    assert body["errors"][0]["message"] == "Invalid cursor for current pagination sort."


def test_search_filters_and_unknown_fields(sandbox: ShopifySandbox) -> None:
    ids = sandbox.variant_ids()
    body = gql(sandbox, '{ productVariants(first: 5, query: "sku:CS-00001-01") { nodes { id sku } } }')
    assert [n["sku"] for n in body["data"]["productVariants"]["nodes"]] == ["CS-00001-01"]
    body = gql(sandbox, '{ productVariants(first: 5, query: "colour:blue") { nodes { id } } }')
    assert "colour" in body["errors"][0]["message"]
    assert ids


def test_bulk_operation_serves_jsonl_with_parent_ids(sandbox: ShopifySandbox) -> None:
    run = gql(
        sandbox,
        'mutation { bulkOperationRunQuery(query: "{ products { edges { node { id variants { edges { node { id } } } } } } }") '
        "{ bulkOperation { id status } userErrors { message } } }",
    )["data"]["bulkOperationRunQuery"]
    assert run["userErrors"] == [] and run["bulkOperation"]["status"] == "CREATED"
    for _ in range(100):
        op = gql(sandbox, "{ currentBulkOperation { id status url objectCount rootObjectCount } }")["data"][
            "currentBulkOperation"
        ]
        if op["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert op["id"] == run["bulkOperation"]["id"] and op["url"].startswith(sandbox.url)
    lines = requests.get(op["url"], timeout=10).text.splitlines()
    rows = [json.loads(line) for line in lines]
    products = [r for r in rows if "__parentId" not in r]
    variants = [r for r in rows if "__parentId" in r]
    assert len(products) == 60 == int(op["rootObjectCount"])
    assert len(rows) == int(op["objectCount"])
    seen_parents: set[str] = set()
    for row in rows:
        if "__parentId" in row:
            assert row["__parentId"] in seen_parents, "a child row must come after its parent"
        else:
            seen_parents.add(row["id"])
    assert len(variants) == len(sandbox.variant_ids())


def test_bulk_query_shape_limits(sandbox: ShopifySandbox) -> None:
    result = gql(
        sandbox,
        'mutation { bulkOperationRunQuery(query: "{ shop { name } }") { bulkOperation { id } userErrors { message } } }',
    )["data"]["bulkOperationRunQuery"]
    assert result["bulkOperation"] is None
    assert "at least one connection" in result["userErrors"][0]["message"]


def test_large_catalog_full_read_is_streamed_through_bulk() -> None:
    """5,000 variants come from one bulk operation (one ``bulkOperationRunQuery`` and one download of its JSONL),
    not from paging through the products with queries. Work done, not wall time: how often the adapter polls the
    running operation depends on the machine's speed, so the polls are only required to be status queries."""
    from connector.sandbox.seed import iter_products

    products = list(iter_products(n_variants=5000))
    with ShopifySandbox(products=products) as sandbox:
        served = Served(sandbox)
        adapter = ShopifyAdapter(ShopifyAdapter.validate_settings(sandbox.connection_settings()))
        count = sum(1 for _ in adapter.iter_variants())
        requests_served = served.api()
    assert count == 5000
    graphql = [r.body.decode() for r in requests_served if r.method == "POST"]
    downloads = [r for r in requests_served if r.method == "GET"]
    assert sum("bulkOperationRunQuery" in body for body in graphql) == 1
    assert not [body for body in graphql if "bulkOperationRunQuery" not in body and "products(" in body]
    assert len(downloads) == 1
