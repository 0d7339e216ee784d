"""items_batch, batch status polling, catalog paging and the catalog call-rate limit."""

from __future__ import annotations

import json


def test_batch_creates_items_and_status_finishes_on_a_later_poll(graph, sandbox, make_product):
    answer = graph.items_batch([{"method": "CREATE", "data": make_product("shop42-v1")}], allow_upsert=True)
    assert answer.status_code == 200
    (handle,) = answer.json()["handles"]
    status_path = f"{graph.settings['catalog_id']}/check_batch_request_status"
    first = graph.get(status_path, params={"handle": handle}).json()["data"][0]
    assert first["status"] == "in progress"
    second = graph.get(status_path, params={"handle": handle}).json()["data"][0]
    assert second["status"] == "finished"
    assert second["errors_total_count"] == 0 and second["ids_of_invalid_requests"] == []
    (item,) = sandbox.catalog_items(graph.settings["catalog_id"])
    assert item["id"] == "shop42-v1" and item["price"] == "49.90 EUR"


def test_requests_as_a_form_field_json_string(graph, sandbox, make_product):
    form = {
        "item_type": "PRODUCT_ITEM",
        "allow_upsert": "true",
        "requests": json.dumps([{"method": "UPDATE", "data": make_product("shop42-v2")}]),
    }
    answer = graph.post(f"{graph.settings['catalog_id']}/items_batch", data=form)
    assert answer.status_code == 200 and len(answer.json()["handles"]) == 1
    assert [i["id"] for i in sandbox.catalog_items(graph.settings["catalog_id"])] == ["shop42-v2"]


def test_malformed_requests_reject_the_whole_call_with_code_100(graph, make_product):
    bad_method = graph.items_batch([{"method": "UPSERT", "data": make_product("a")}])
    assert bad_method.status_code == 400 and graph.error(bad_method)["code"] == 100
    no_id = graph.items_batch([{"method": "UPDATE", "data": {"title": "x"}}])
    assert graph.error(no_id)["code"] == 100 and "data][id]" in graph.error(no_id)["error_data"]["details"]
    no_type = graph.post(f"{graph.settings['catalog_id']}/items_batch", json={"requests": []})
    assert graph.error(no_type)["code"] == 100


def test_more_than_5000_items_per_call_is_refused(graph):
    answer = graph.items_batch([{"method": "DELETE", "data": {"id": f"x{i}"}} for i in range(5001)])
    assert answer.status_code == 400 and graph.error(answer)["code"] == 100
    assert "5000" in graph.error(answer)["error_data"]["details"]


def test_payload_over_the_size_limit_gets_code_1(graph, sandbox, make_product):
    sandbox.set_options(max_payload_bytes=2000)
    big = [{"method": "UPDATE", "data": make_product(f"p{i}")} for i in range(20)]
    answer = graph.items_batch(big)
    assert answer.status_code == 400 and graph.error(answer)["code"] == 1


def test_invalid_items_are_reported_per_item_and_in_the_batch_status(graph, sandbox, make_product):
    requests_ = [
        {"method": "CREATE", "data": make_product("ok")},
        {"method": "CREATE", "data": {k: v for k, v in make_product("noimage").items() if k != "image_link"}},
        {"method": "UPDATE", "data": make_product("badprice", price="12,50 EUR")},
        {"method": "UPDATE", "data": make_product("badstock", availability="sold out")},
    ]
    answer = graph.items_batch(requests_).json()
    by_id = {s["retailer_id"]: s for s in answer["validation_status"]}
    assert set(by_id) == {"noimage", "badprice", "badstock"}
    assert "image_link" in by_id["noimage"]["errors"][0]["message"]
    assert "price" in by_id["badprice"]["errors"][0]["message"]
    assert "availability" in by_id["badstock"]["errors"][0]["message"]
    (handle,) = answer["handles"]
    sandbox.set_options(batch_polls_in_progress=0)
    status = graph.get(f"{graph.settings['catalog_id']}/check_batch_request_status", params={"handle": handle})
    entry = status.json()["data"][0]
    assert entry["status"] == "finished" and entry["errors_total_count"] == 3
    assert sorted(entry["ids_of_invalid_requests"]) == ["badprice", "badstock", "noimage"]
    assert [i["id"] for i in sandbox.catalog_items(graph.settings["catalog_id"])] == ["ok"]


def test_update_is_partial_and_upsert_can_be_disabled(graph, sandbox, make_product):
    graph.items_batch([{"method": "CREATE", "data": make_product("v1")}])
    graph.items_batch([{"method": "UPDATE", "data": {"id": "v1", "availability": "out of stock"}}])
    (item,) = sandbox.catalog_items(graph.settings["catalog_id"])
    assert item["availability"] == "out of stock" and item["title"] == "Linen shirt v1"
    refused = graph.items_batch([{"method": "UPDATE", "data": make_product("v2")}], allow_upsert=False).json()
    assert refused["handles"] == [] and refused["validation_status"][0]["retailer_id"] == "v2"
    partial_new = graph.items_batch([{"method": "UPDATE", "data": {"id": "v3", "price": "1 EUR"}}]).json()
    assert any("Missing required field" in e["message"] for e in partial_new["validation_status"][0]["errors"])
    graph.items_batch([{"method": "DELETE", "data": {"id": "v1"}}])
    assert sandbox.catalog_items(graph.settings["catalog_id"]) == []


def test_products_edge_pages_with_cursors_and_fields(graph, make_product):
    graph.items_batch([{"method": "UPDATE", "data": make_product(f"sku-{i:02d}")} for i in range(7)])
    graph.items_batch([{"method": "DELETE", "data": {"id": "sku-03"}}])
    seen: list[str] = []
    page = graph.get(
        f"{graph.settings['catalog_id']}/products", params={"fields": "retailer_id,name,price,currency", "limit": 4}
    ).json()
    while True:
        seen.extend(p["retailer_id"] for p in page["data"])
        assert all(p["currency"] == "EUR" and p["price"] == "€49.90" and p["id"] for p in page["data"])
        if "next" not in page.get("paging", {}):
            break
        page = graph.session.get(page["paging"]["next"], timeout=5).json()
    assert seen == [f"sku-{i:02d}" for i in range(7) if i != 3]
    after = graph.get(f"{graph.settings['catalog_id']}/products", params={"limit": 2}).json()["paging"]
    rest = graph.get(
        f"{graph.settings['catalog_id']}/products", params={"fields": "retailer_id", "after": after["cursors"]["after"]}
    ).json()
    assert [p["retailer_id"] for p in rest["data"]] == ["sku-02", "sku-04", "sku-05", "sku-06"]


def test_unknown_product_field_is_refused(graph):
    answer = graph.get(f"{graph.settings['catalog_id']}/products", params={"fields": "title"})
    assert answer.status_code == 400 and graph.error(answer)["code"] == 100


def test_catalog_call_rate_limit_answers_80014_and_write_calls_are_counted(graph, sandbox, make_product):
    sandbox.set_options(catalog_calls_per_minute=3)
    codes = [graph.items_batch([{"method": "UPDATE", "data": make_product(f"r{i}")}]).status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = graph.items_batch([{"method": "UPDATE", "data": make_product("r9")}])
    assert graph.error(limited)["code"] == 80014
    assert sandbox.stats()["catalogs"][graph.settings["catalog_id"]]["write_calls"] == 3
