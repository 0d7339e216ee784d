"""The sandbox speaks WooCommerce's wire protocol: auth, pagination, error bodies, limits, faults."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
from connector_woocommerce.adapter import WooCommerceAdapter
from connector_woocommerce.client import WooClient
from connector_woocommerce.sandbox import WooCommerceSandbox
from requests_oauthlib import OAuth1

from connector.sandbox.seed import generate

from .conftest import API, oauth1


def test_list_without_credentials_is_refused(sandbox: WooCommerceSandbox) -> None:
    response = requests.get(f"{sandbox.url}{API}/products")
    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }


def test_wrong_key_and_wrong_secret_have_their_own_messages() -> None:
    with WooCommerceSandbox(options={"https": True}) as sb:
        settings = sb.connection_settings()
        wrong_key = requests.get(f"{sb.url}{API}/products", auth=("ck_nope", settings["consumer_secret"]))
        assert wrong_key.status_code == 401
        assert wrong_key.json()["code"] == "woocommerce_rest_authentication_error"
        assert wrong_key.json()["message"] == "Consumer key is invalid."
        wrong_secret = requests.get(f"{sb.url}{API}/products", auth=(settings["consumer_key"], "cs_nope"))
        assert wrong_secret.json()["message"] == "Consumer secret is invalid."


def test_query_string_credentials_are_accepted_over_https() -> None:
    with WooCommerceSandbox(options={"https": True}) as sb:
        settings = sb.connection_settings()
        params = {"consumer_key": settings["consumer_key"], "consumer_secret": settings["consumer_secret"]}
        response = requests.get(f"{sb.url}{API}/products", params=params)
        assert response.status_code == 200 and len(response.json()) == 10


def test_plain_http_refuses_basic_auth_and_query_keys(sandbox: WooCommerceSandbox) -> None:
    """Over plain HTTP WooCommerce only accepts OAuth 1.0a: keys sent in the clear leave the request anonymous."""
    settings = sandbox.connection_settings()
    keys = (settings["consumer_key"], settings["consumer_secret"])
    basic = requests.get(f"{sandbox.url}{API}/products", auth=keys)
    query = requests.get(f"{sandbox.url}{API}/products", params={"consumer_key": keys[0], "consumer_secret": keys[1]})
    for response in (basic, query):
        assert response.status_code == 401
        assert response.json()["code"] == "woocommerce_rest_cannot_view"
    # behind a TLS-terminating proxy (X-Forwarded-Proto: https) WordPress counts the request as HTTPS
    proxied = requests.get(f"{sandbox.url}{API}/products", auth=keys, headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200


def test_oauth1_signatures_are_checked(sandbox: WooCommerceSandbox) -> None:
    settings = sandbox.connection_settings()
    signed = requests.get(f"{sandbox.url}{API}/products", params={"per_page": 3}, auth=oauth1(settings))
    assert signed.status_code == 200 and len(signed.json()) == 3
    sha1 = OAuth1(settings["consumer_key"], settings["consumer_secret"], signature_method="HMAC-SHA1")
    assert requests.get(f"{sandbox.url}{API}/products", auth=sha1).status_code == 200
    forged = requests.get(f"{sandbox.url}{API}/products", auth=oauth1({**settings, "consumer_secret": "cs_guess"}))
    assert forged.status_code == 401
    assert forged.json()["message"] == "Invalid signature - provided signature does not match."
    plaintext = OAuth1(settings["consumer_key"], settings["consumer_secret"], signature_method="PLAINTEXT")
    refused = requests.get(f"{sandbox.url}{API}/products", auth=plaintext)
    assert refused.json()["message"] == "Invalid signature - signature method is invalid."


def test_an_oauth1_request_cannot_be_replayed(sandbox: WooCommerceSandbox) -> None:
    first = requests.get(f"{sandbox.url}{API}/products", auth=oauth1(sandbox.connection_settings()))
    assert first.status_code == 200
    replay = requests.get(first.request.url, headers={"Authorization": first.request.headers["Authorization"]})
    assert replay.status_code == 401
    assert replay.json()["message"] == "Invalid nonce - nonce has already been used."


def test_the_site_index_is_public(sandbox: WooCommerceSandbox) -> None:
    index = requests.get(f"{sandbox.url}/wp-json/").json()
    assert "wc/v3" in index["namespaces"] and index["name"]


def test_read_only_keys_cannot_write() -> None:
    with WooCommerceSandbox(options={"key_permissions": "read"}) as sb:
        auth = oauth1(sb.connection_settings())
        assert requests.get(f"{sb.url}{API}/orders", auth=auth).status_code == 200
        response = requests.post(f"{sb.url}{API}/orders", auth=auth, json={"line_items": []})
        assert response.status_code == 401
        assert response.json()["message"] == "The API key provided does not have write permissions."
        assert sb.orders() == []


def test_pagination_headers_and_pages(sandbox: WooCommerceSandbox, api: requests.Session) -> None:
    first = api.get(f"{sandbox.url}{API}/products", params={"per_page": 25, "orderby": "id", "order": "asc"})
    assert first.headers["X-WP-Total"] == "60" and first.headers["X-WP-TotalPages"] == "3"
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    last = api.get(f"{sandbox.url}{API}/products", params={"per_page": 25, "page": 3, "orderby": "id", "order": "asc"})
    assert len(last.json()) == 10
    assert 'rel="next"' not in last.headers["Link"] and 'rel="prev"' in last.headers["Link"]
    beyond = api.get(f"{sandbox.url}{API}/products", params={"per_page": 25, "page": 4})
    assert beyond.status_code == 200 and beyond.json() == []
    ids = [
        p["id"]
        for page in (1, 2, 3)
        for p in api.get(
            f"{sandbox.url}{API}/products", params={"per_page": 25, "page": page, "orderby": "id", "order": "asc"}
        ).json()
    ]
    assert ids == sorted(ids) and len(set(ids)) == 60


def test_default_page_size_is_ten_and_newest_first(sandbox: WooCommerceSandbox, api: requests.Session) -> None:
    products = api.get(f"{sandbox.url}{API}/products").json()
    assert len(products) == 10
    assert [p["id"] for p in products] == sorted((p["id"] for p in products), reverse=True)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"per_page": 101}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"page": 0}, "page"),
        ({"orderby": "x"}, "orderby"),
    ],
)
def test_invalid_list_parameters_are_400s(
    sandbox: WooCommerceSandbox, api: requests.Session, params: dict[str, object], param: str
) -> None:
    response = api.get(f"{sandbox.url}{API}/products", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "rest_invalid_param" and param in body["data"]["params"]


def test_error_bodies(sandbox: WooCommerceSandbox, api: requests.Session) -> None:
    missing = api.get(f"{sandbox.url}{API}/products/999999")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "woocommerce_rest_product_invalid_id",
        "message": "Invalid ID.",
        "data": {"status": 404},
    }
    assert api.get(f"{sandbox.url}{API}/orders/999999").json()["code"] == "woocommerce_rest_shop_order_invalid_id"
    no_route = api.get(f"{sandbox.url}{API}/nothing-here")
    assert no_route.status_code == 404 and no_route.json()["code"] == "rest_no_route"
    bad_json = api.post(f"{sandbox.url}{API}/orders", data=b"{nope", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "rest_invalid_json"


def test_variations_are_read_per_product_and_by_id(sandbox: WooCommerceSandbox, api: requests.Session) -> None:
    products = api.get(f"{sandbox.url}{API}/products", params={"per_page": 100, "type": "variable"}).json()
    product = products[0]
    variations = api.get(f"{sandbox.url}{API}/products/{product['id']}/variations").json()
    assert sorted(v["id"] for v in variations) == sorted(product["variations"])
    as_product = api.get(f"{sandbox.url}{API}/products/{variations[0]['id']}").json()
    assert as_product["type"] == "variation" and as_product["parent_id"] == product["id"]
    # Listing products never returns variations, even when asked for their ids.
    listed = api.get(f"{sandbox.url}{API}/products", params={"include": str(variations[0]["id"])}).json()
    assert listed == []


def test_variations_across_products(sandbox: WooCommerceSandbox, api: requests.Session) -> None:
    """``GET /variations`` (WooCommerce 10.3+): every product's variations with their ``parent_id``, ``parent``
    narrowing them to some products, WordPress's page limits and headers."""
    products = api.get(f"{sandbox.url}{API}/products", params={"per_page": 100, "type": "variable"}).json()
    parents = products[:3]
    wanted = sorted(v for p in parents for v in p["variations"])
    params = {"parent": ",".join(str(p["id"]) for p in parents), "orderby": "id", "order": "asc", "per_page": 100}
    response = api.get(f"{sandbox.url}{API}/variations", params=params)
    assert response.status_code == 200 and response.headers["X-WP-Total"] == str(len(wanted))
    listed = response.json()
    assert [v["id"] for v in listed] == wanted
    by_parent = {v: p["id"] for p in parents for v in p["variations"]}
    assert all(v["parent_id"] == by_parent[v["id"]] for v in listed)
    under_product = api.get(f"{sandbox.url}{API}/products/{parents[0]['id']}/variations").json()[0]
    assert {**under_product, "parent_id": parents[0]["id"]} == next(v for v in listed if v["id"] == under_product["id"])
    everything = api.get(f"{sandbox.url}{API}/variations", params={"per_page": 100})
    assert int(everything.headers["X-WP-Total"]) == sum(len(p["variations"]) for p in _all_products(sandbox, api))
    assert api.get(f"{sandbox.url}{API}/variations", params={"per_page": 101}).status_code == 400


def test_a_store_before_10_3_has_no_variations_route() -> None:
    with WooCommerceSandbox(options={"variations_route": False}) as sb:
        session = requests.Session()
        session.auth = oauth1(sb.connection_settings())
        response = session.get(f"{sb.url}{API}/variations")
    assert response.status_code == 404 and response.json()["code"] == "rest_no_route"


def _all_products(sandbox: WooCommerceSandbox, api: requests.Session) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = api.get(f"{sandbox.url}{API}/products", params={"per_page": 100, "page": page}).json()
        found += batch
        if len(batch) < 100:
            return found
        page += 1


def test_modified_after_filters_products(sandbox: WooCommerceSandbox, api: requests.Session) -> None:
    products = api.get(f"{sandbox.url}{API}/products", params={"per_page": 100}).json()
    modified = products[0]["date_modified_gmt"]
    params = {"modified_after": modified, "dates_are_gmt": "true", "per_page": 100}
    assert api.get(f"{sandbox.url}{API}/products", params=params).json() == []
    bad = api.get(f"{sandbox.url}{API}/products", params={"modified_after": "yesterday"})
    assert bad.status_code == 400


def test_fail_next_gives_wordpress_errors(sandbox: WooCommerceSandbox, api: requests.Session) -> None:
    sandbox.fail_next(2, 503)
    assert api.get(f"{sandbox.url}{API}/products").status_code == 503
    assert api.get(f"{sandbox.url}{API}/products").json()["code"] == "internal_server_error"
    assert api.get(f"{sandbox.url}{API}/products").status_code == 200
    sandbox.fail_next(1, 429)
    throttled = api.get(f"{sandbox.url}{API}/products")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"


def test_rate_limit_answers_429_with_retry_after() -> None:
    with WooCommerceSandbox(options={"rate_limit": 3, "rate_limit_window": 60}) as sb:
        auth = oauth1(sb.connection_settings())
        statuses = [requests.get(f"{sb.url}{API}/products", auth=auth).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        response = requests.get(f"{sb.url}{API}/products", auth=auth)
        assert response.json()["code"] == "rate_limit_exceeded" and int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "options",
    [
        # WooCommerce 10.3+: a page of products and one of variations, so a limit that refuses the second request.
        {"rate_limit": 1, "rate_limit_window": 1.0},
        # Before 10.3: a variation list per product, ``parallel_requests`` at once.
        {"rate_limit": 3, "rate_limit_window": 0.1, "variations_route": False},
    ],
)
def test_adapter_rides_out_a_rate_limit(options: dict[str, Any]) -> None:
    """The adapter honours Retry-After: a full read through a tight limit still returns everything."""
    with WooCommerceSandbox(products=generate(8), options=options) as sb:
        adapter = WooCommerceAdapter(WooCommerceAdapter.validate_settings(sb.connection_settings()))
        assert {v.external_id for v in adapter.iter_variants()} == set(sb.variant_ids())
        assert sb.gate.throttled > 0, "the read must actually have been throttled"


def test_the_adapter_signs_with_oauth1_over_http_and_uses_basic_auth_over_https(
    adapter: WooCommerceAdapter,
) -> None:
    assert "Authorization" not in adapter.client.http.headers  # over plain HTTP each request is signed on its own
    assert len(adapter.client.get("products", {"per_page": 2})) == 2  # and the sandbox accepts the signatures
    with WooCommerceSandbox(options={"https": True}) as sb:
        settings = sb.connection_settings()
        https = WooClient("https://shop.example", settings["consumer_key"], settings["consumer_secret"])
        expected = base64.b64encode(f"{settings['consumer_key']}:{settings['consumer_secret']}".encode()).decode()
        assert https.http.headers["Authorization"] == f"Basic {expected}"
