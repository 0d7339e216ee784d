"""Pure parts of the shared Meta client: error bodies, usage headers, signatures, catalog field mapping."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
from connector_meta.catalog import MetaCatalog, catalog_fields, item_from_graph, parse_meta_price
from connector_meta.graph import GraphClient, parse_graph_error, parse_usage
from connector_meta.signature import handshake, sign, verify_signature
from werkzeug.datastructures import Headers

from connector import model
from connector.adapters import CatalogPush, WebhookRequest
from connector.errors import ConfigError, WebhookRejected


def _response(status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return response


def test_graph_error_body_is_parsed_with_code_subcode_and_details() -> None:
    body = {
        "error": {
            "message": "(#130429) Rate limit hit",
            "type": "OAuthException",
            "code": 130429,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Cloud API message throughput has been reached.",
            },
            "error_subcode": 2494055,
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
        }
    }
    info = parse_graph_error(_response(400, body))
    assert (info.code, info.error_subcode, info.type) == (130429, 2494055, "OAuthException")
    assert info.details == "Cloud API message throughput has been reached."
    assert info.summary.startswith("(#130429)") and "throughput" in info.summary


def test_non_json_error_body_still_gives_a_readable_error() -> None:
    info = parse_graph_error(_response(502, b"<html>Bad gateway</html>"))
    assert info.code is None and info.status == 502 and "Bad gateway" in info.summary


def test_usage_headers_give_the_highest_percentage_and_regain_time() -> None:
    headers = {
        "X-App-Usage": json.dumps({"call_count": 28, "total_time": 25, "total_cputime": 25}),
        "X-Business-Use-Case-Usage": json.dumps(
            {
                "123": [
                    {
                        "type": "CATALOG_BATCH",
                        "call_count": 100,
                        "total_cputime": 3,
                        "total_time": 4,
                        "estimated_time_to_regain_access": 2,
                    }
                ]
            }
        ),
    }
    usage = parse_usage(headers)
    assert usage.percent == 100 and usage.regain_seconds == 120
    assert parse_usage({"X-App-Usage": "not json"}).percent == 0


def test_graph_client_base_url_and_bearer_token() -> None:
    client = GraphClient(graph_url="https://graph.example/", api_version="v25.0", access_token="tok")
    assert client.base_url == "https://graph.example/v25.0"
    assert client.http.headers["Authorization"] == "Bearer tok"


# --------------------------------------------------------------------------- signature


def _request(body: bytes, headers: dict[str, str] | None = None, method: str = "POST", query=None) -> WebhookRequest:
    return WebhookRequest(
        method=method, url="http://x/hook", headers=Headers(headers or {}), query=query or {}, body=body
    )


def test_signature_over_raw_bytes_is_accepted_and_forgeries_are_401() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[{"x":"\\u00e4"}]}'
    verify_signature(_request(body, {"X-Hub-Signature-256": sign(body, "s3cret")}), "s3cret")
    for headers in ({}, {"X-Hub-Signature-256": "sha1=abc"}, {"X-Hub-Signature-256": sign(body, "other")}):
        with pytest.raises(WebhookRejected) as caught:
            verify_signature(_request(body, headers), "s3cret")
        assert caught.value.status == 401
    # Re-serialised JSON (what a careless proxy would forward) no longer matches.
    reserialised = json.dumps(json.loads(body)).encode()
    with pytest.raises(WebhookRejected):
        verify_signature(_request(reserialised, {"X-Hub-Signature-256": sign(body, "s3cret")}), "s3cret")


def test_handshake_echoes_the_challenge_only_for_the_right_token() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"}
    reply = handshake(_request(b"", method="GET", query=query), "vt")
    assert reply is not None and (reply.status, reply.body) == (200, "1158201444")
    wrong = handshake(_request(b"", method="GET", query={**query, "hub.verify_token": "nope"}), "vt")
    assert wrong is not None and wrong.status == 403
    assert handshake(_request(b"", method="GET", query={}), "vt").status == 403
    assert handshake(_request(b"{}"), "vt") is None


# --------------------------------------------------------------------------- catalog mapping


def _variant(**overrides) -> model.Variant:
    values = dict(
        external_id="v-9001",
        product_external_id="p-77",
        title="Linen shirt",
        price=model.Money("49.9", "EUR"),
        availability=model.Availability.IN_STOCK,
        description="<p>Soft &amp; light</p>",
        link="https://shop.example/p/77",
        image_url="https://shop.example/77.jpg",
        brand="Acme",
        stock_quantity=4,
        attributes={"Size": "M", "Color": "blue", "Fit": "slim"},
    )
    values.update(overrides)
    return model.Variant(**values)


def test_catalog_fields_map_a_variant_to_meta_item_fields() -> None:
    fields = catalog_fields(_variant(sale_price=model.Money("39.9", "EUR")))
    assert fields["price"] == "49.90 EUR" and fields["sale_price"] == "39.90 EUR"
    assert fields["item_group_id"] == "p-77" and fields["availability"] == "in stock"
    assert fields["description"] == "Soft & light"  # Meta rejects HTML
    assert (fields["size"], fields["color"], fields["additional_variant_attribute"]) == ("M", "blue", "Fit:slim")
    assert fields["inventory"] == 4 and fields["visibility"] == "published" and fields["condition"] == "new"
    assert fields["link"] == "https://shop.example/p/77" and fields["image_link"].endswith("77.jpg")
    assert fields["brand"] == "Acme" and "id" not in fields


def test_sold_out_and_unpublished_variants_stay_in_the_catalog() -> None:
    fields = catalog_fields(_variant(availability=model.Availability.OUT_OF_STOCK, stock_quantity=0, published=False))
    assert fields["availability"] == "out of stock" and fields["inventory"] == 0
    assert fields["visibility"] == "hidden" and fields["size"] == "M"  # variant fields kept even when sold out


def test_render_request_puts_the_retailer_id_in_data_id() -> None:
    push = CatalogPush("v-1", "UPDATE", {"title": "T", "retailer_id": "wrong"})
    assert MetaCatalog.render_request(push) == {"method": "UPDATE", "data": {"id": "v-1", "title": "T"}}
    assert MetaCatalog.render_request(CatalogPush("v-2", "DELETE", {"title": "x"})) == {
        "method": "DELETE",
        "data": {"id": "v-2"},
    }


def test_batch_size_defaults_to_metas_limit_and_is_configurable() -> None:
    graph = GraphClient(access_token="t")
    assert MetaCatalog(graph, "1").max_batch_size == 5000
    assert MetaCatalog(graph, "1", max_batch_size=2500).max_batch_size == 2500
    with pytest.raises(ConfigError):
        MetaCatalog(graph, "1", max_batch_size=5001)


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("12.50 EUR", None, Decimal("12.50")),
        ("€1.234,50", "EUR", Decimal("1234.50")),
        ("$1,234.50", "USD", Decimal("1234.50")),
        (1250, "EUR", Decimal("12.50")),
    ],
)
def test_prices_read_back_from_the_graph_api(value, currency, expected) -> None:
    money = parse_meta_price(value, currency)
    assert money is not None and money.amount == expected


def test_item_from_graph_reads_a_products_edge_object() -> None:
    item = item_from_graph(
        {
            "retailer_id": "v-1",
            "name": "Shirt",
            "price": "49.90 EUR",
            "availability": "out of stock",
            "inventory": 0,
            "retailer_product_group_id": "p-1",
            "url": "https://s/p",
            "image_url": "https://s/i.jpg",
            "visibility": "hidden",
        }
    )
    assert item.retailer_id == "v-1" and item.price == model.Money("49.90", "EUR")
    assert item.availability is model.Availability.OUT_OF_STOCK and item.inventory == 0
    assert (item.item_group_id, item.visibility) == ("p-1", "hidden")
