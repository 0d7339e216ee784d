"""The sandbox's product search indexes and JSON cache never change an answer: each search equals a full scan."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from connector_shopware.sandbox.app import _search, create_app
from connector_shopware.sandbox.store import ShopStore
from flask.testing import FlaskClient

from connector.sandbox.seed import generate

ASSOCIATIONS = {"cover": {}, "media": {}, "options": {"associations": {"group": {}}}, "manufacturer": {}}


@pytest.fixture
def shop() -> Iterator[tuple[ShopStore, FlaskClient, dict[str, str]]]:
    store = ShopStore(generate(), base_url=lambda: "http://sandbox.invalid", options={})
    client = create_app(store).test_client()
    token = client.post(
        "/api/oauth/token",
        json={"grant_type": "client_credentials", "client_id": store.client_id, "client_secret": store.client_secret},
    ).json["access_token"]
    yield store, client, {"Authorization": f"Bearer {token}"}
    store.sender.close()


def scanned(store: ShopStore, body: dict[str, Any], *, inherit: bool) -> dict[str, Any]:
    """What the search answered before the indexes: every product through the criteria, JSON built afresh."""
    records = store.sorted_records() if body.get("sort") else list(store.products.values())
    page, total = _search(body, records, store.resolve_product, 500, presorted=True)
    associations = body.get("associations") or {}
    data = [store.product_json(r, inherit=inherit, associations=associations) for r in page]
    return json.loads(json.dumps({"total": total, "data": data, "aggregations": []}, default=str))


def since_filter(since: str, fields: tuple[str, ...] = ("updatedAt", "createdAt", "parent.updatedAt")) -> dict:
    return {
        "type": "multi",
        "operator": "OR",
        "queries": [{"type": "range", "field": f, "parameters": {"gte": since}} for f in fields],
    }


def bodies(store: ShopStore, since: str) -> list[dict[str, Any]]:
    parent = next(iter(store.children))
    child = store.children[parent][0]
    simple = next(pid for pid, p in store.products.items() if not p["parentId"] and not p["childCount"])
    old = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    return [
        {"filter": [since_filter(since)]},
        {"filter": [since_filter(since, ("updatedAt",))]},
        {"filter": [since_filter(since, ("parent.updatedAt",))]},
        {"filter": [since_filter(old, ("createdAt",))], "limit": 7, "page": 3, "total-count-mode": 1},
        {"filter": [{"type": "range", "field": "updatedAt", "parameters": {"lt": since}}]},
        {"filter": [{"type": "range", "field": "product.updatedAt", "parameters": {"gt": old, "lte": since}}]},
        {"filter": [{"type": "range", "field": "createdAt", "parameters": {"gte": "not a date"}}]},
        {"filter": [{"type": "range", "field": "stock", "parameters": {"gte": 5}}], "total-count-mode": 1},
        {
            "filter": [
                {
                    "type": "multi",
                    "operator": "OR",
                    "queries": [
                        {"type": "equalsAny", "field": "id", "value": [parent, simple, "nope"]},
                        {"type": "equalsAny", "field": "parentId", "value": [parent]},
                    ],
                }
            ]
        },
        {"filter": [{"type": "equals", "field": "parentId", "value": parent}], "total-count-mode": 2, "limit": 1},
        {"filter": [{"type": "equals", "field": "parentId", "value": None}], "limit": 5},
        {"filter": [{"type": "equals", "field": "id", "value": child}, since_filter(old)]},
        {"ids": [child, parent, simple], "filter": [since_filter(since)]},
        {"ids": f"{child}|{simple}"},
        {
            "filter": [
                {
                    "type": "multi",
                    "operator": "AND",
                    "queries": [since_filter(since), {"type": "contains", "field": "productNumber", "value": "-"}],
                }
            ]
        },
        {"filter": [{"type": "not", "queries": [since_filter(since)]}], "limit": 10, "total-count-mode": 1},
        {"filter": [since_filter(since)], "sort": [{"field": "stock", "order": "DESC"}]},
        {"filter": [since_filter(old)], "sort": [{"field": "productNumber", "order": "ASC"}], "limit": 20},
    ]


def check(store: ShopStore, client: FlaskClient, auth: dict[str, str], since: str) -> None:
    for body in bodies(store, since):
        for inherit in (True, False):
            for sort in (None, [{"field": "id", "order": "ASC"}]):
                full = {**body, "associations": ASSOCIATIONS}
                if sort and "sort" not in body:
                    full["sort"] = sort
                headers = {**auth, "sw-inheritance": "1"} if inherit else auth
                got = client.post("/api/search/product", json=full, headers=headers)
                assert got.status_code == 200, (full, got.json)
                assert got.json == scanned(store, full, inherit=inherit), full


def test_indexed_searches_answer_like_a_full_scan(shop: tuple[ShopStore, FlaskClient, dict[str, str]]) -> None:
    store, client, auth = shop
    since = datetime.now(UTC).isoformat()
    check(store, client, auth, since)  # nothing updated yet; fills the JSON cache and builds the indexes

    time.sleep(0.002)
    parents = list(store.children)
    variants = store.variant_ids()
    store.set_published(parents[0], False)
    store.set_stock(variants[3], 0)
    store.set_price(variants[5], Decimal("9.99"), Decimal("4.99"))
    store.set_sku(variants[7], "RENAMED-1")
    store.delete_product(parents[1])
    store.delete_product(store.children[parents[2]][0])
    check(store, client, auth, since)
    check(store, client, auth, datetime.now(UTC).isoformat())

    store.set_stock(variants[3], 12)  # written again: moves in the updatedAt index
    check(store, client, auth, since)


def test_unknown_fields_still_fail_when_an_index_could_answer(
    shop: tuple[ShopStore, FlaskClient, dict[str, str]],
) -> None:
    _, client, auth = shop
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    bogus = {"type": "equals", "field": "parent.bogus", "value": 1}
    body = {"filter": [{"type": "multi", "operator": "OR", "queries": [since_filter(future, ("updatedAt",)), bogus]}]}
    response = client.post("/api/search/product", json=body, headers=auth)
    assert response.status_code == 400
    assert response.json["errors"][0]["code"] == "FRAMEWORK__INVALID_FILTER_QUERY"
