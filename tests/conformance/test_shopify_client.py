"""Shopify's own Python library (ShopifyAPI, its GraphQL client) against the Shopify sandbox.

Only the base URL is changed (``ShopifyResource.set_site``, as for any shop): every request and every check of
an answer is the library's or the Admin API schema's, so what fails here is the sandbox's fault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
from collections.abc import Iterator
from typing import Any

import pytest
import shopify
from connector_shopify.sandbox import ShopifySandbox
from connector_shopify.sandbox.schema import admin_schema

from connector.sandbox.recorder import WebhookRecorder

VERSION = "2026-10"  # the default the connector uses; 2025-01 is no longer served


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox() as sb:
        yield sb


@pytest.fixture
def client(sandbox: ShopifySandbox) -> Iterator[shopify.GraphQL]:
    """The library's GraphQL client on a session for the sandbox (base URL swapped for the sandbox's)."""
    session = shopify.Session("chatshop-sandbox.myshopify.com", VERSION, sandbox.options["access_token"])
    shopify.ShopifyResource.activate_session(session)
    shopify.ShopifyResource.set_site(f"{sandbox.url}/admin/api/{VERSION}")
    yield shopify.GraphQL()
    shopify.ShopifyResource.clear_session()


def run(client: shopify.GraphQL, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return json.loads(client.execute(query, variables))


def enum_values(name: str) -> set[str]:
    return set(admin_schema().get_type(name).values)  # type: ignore[union-attr]


PRODUCTS = """
query Products($after: String, $query: String) {
  products(first: 25, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id title status variants(first: 10) { nodes { id sku price inventoryQuantity } } }
  }
}
"""


def test_the_catalog_reads_page_by_page(sandbox: ShopifySandbox, client: shopify.GraphQL) -> None:
    seen: list[str] = []
    after = None
    while True:
        body = run(client, PRODUCTS, {"after": after})
        assert "errors" not in body, body
        page = body["data"]["products"]
        seen += [p["id"] for p in page["nodes"]]
        assert all(p["status"] in enum_values("ProductStatus") for p in page["nodes"])
        cost = body["extensions"]["cost"]
        assert cost["actualQueryCost"] <= cost["requestedQueryCost"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == len(sandbox.store.products.by_id)


def test_free_text_search_finds_products_by_title(client: shopify.GraphQL) -> None:
    first = run(client, PRODUCTS, {})["data"]["products"]["nodes"][0]
    word = first["title"].split()[0]
    body = run(client, PRODUCTS, {"query": word})
    assert "errors" not in body, body
    titles = [p["title"] for p in body["data"]["products"]["nodes"]]
    assert first["title"] in titles
    assert all(word.lower() in t.lower().split() for t in titles)
    # free text combines with field terms, as on Shopify
    body = run(client, PRODUCTS, {"query": f"{word} status:active"})
    assert "errors" not in body, body


ORDER_CREATE = """
mutation Create($order: OrderCreateOrderInput!) {
  orderCreate(order: $order) {
    order { id name displayFinancialStatus totalPriceSet { shopMoney { amount currencyCode } } }
    userErrors { field message code }
  }
}
"""


def test_orders_are_created_and_refusals_carry_schema_codes(client: shopify.GraphQL) -> None:
    variant = run(client, PRODUCTS, {})["data"]["products"]["nodes"][0]["variants"]["nodes"][0]
    order = {"lineItems": [{"variantId": variant["id"], "quantity": 2}], "email": "buyer@example.com"}
    created = run(client, ORDER_CREATE, {"order": order})["data"]["orderCreate"]
    assert created["userErrors"] == []
    assert created["order"]["name"].startswith("#")
    assert created["order"]["displayFinancialStatus"] in enum_values("OrderDisplayFinancialStatus")

    refused = run(client, ORDER_CREATE, {"order": {"lineItems": [], "email": "not an email"}})["data"]["orderCreate"]
    assert refused["order"] is None and len(refused["userErrors"]) == 2
    for error in refused["userErrors"]:
        # OrderCreateUserError.code is an OrderCreateUserErrorCode: never missing, never a value outside the enum
        assert error["code"] in enum_values("OrderCreateUserErrorCode"), error
        assert error["field"][0] == "order" and error["message"]


def test_webhooks_register_and_arrive_signed(sandbox: ShopifySandbox, client: shopify.GraphQL) -> None:
    with WebhookRecorder() as recorder:
        created = run(
            client,
            """mutation Sub($url: URL!) {
              webhookSubscriptionCreate(topic: ORDERS_CREATE, webhookSubscription: {callbackUrl: $url, format: JSON}) {
                webhookSubscription { id topic format }
                userErrors { field message }
              }
            }""",
            {"url": recorder.url + "/orders"},
        )["data"]["webhookSubscriptionCreate"]
        assert created["userErrors"] == [] and created["webhookSubscription"]["topic"] == "ORDERS_CREATE"
        variant = run(client, PRODUCTS, {})["data"]["products"]["nodes"][0]["variants"]["nodes"][0]
        run(client, ORDER_CREATE, {"order": {"lineItems": [{"variantId": variant["id"], "quantity": 1}]}})
        [delivery] = recorder.wait_for(1)
    assert delivery.headers["X-Shopify-Topic"] == "orders/create"
    # Shopify's documented check: base64 HMAC-SHA256 of the raw body with the app's client secret
    digest = hmac.new(sandbox.options["client_secret"].encode(), delivery.body, hashlib.sha256).digest()
    assert hmac.compare_digest(base64.b64encode(digest).decode(), delivery.headers["X-Shopify-Hmac-Sha256"])


def test_a_failed_query_is_never_charged_more_than_requested(client: shopify.GraphQL) -> None:
    """The first root field runs (and costs), the second is not supported: the error's cost stays within the
    reservation, as on Shopify."""
    body = run(
        client,
        """mutation Both($id: ID!) {
          a: webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } }
          b: productDelete(input: {id: "gid://shopify/Product/1"}) { deletedProductId }
        }""",
        {"id": "gid://shopify/WebhookSubscription/1"},
    )
    assert body["errors"]
    cost = body["extensions"]["cost"]
    assert cost["actualQueryCost"] <= cost["requestedQueryCost"]


def test_errors_reach_the_library_as_shopify_sends_them(sandbox: ShopifySandbox, client: shopify.GraphQL) -> None:
    invalid = run(client, "{ shop { nonsenseField } }")
    assert invalid["errors"][0]["extensions"]["code"] == "undefinedField"
    client.headers = {**client.headers, "X-Shopify-Access-Token": "shpat_wrong"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        client.execute("{ shop { name } }")
    assert refused.value.code == 401


def test_the_sandbox_never_answers_outside_the_schema(sandbox: ShopifySandbox, client: shopify.GraphQL) -> None:
    """A value the schema forbids (here a product status outside ProductStatus) is the sandbox's bug: it answers
    an error naming the field instead of handing the client a response Shopify could never send."""
    product = next(iter(sandbox.store.products.by_id.values()))
    product["status"] = "RETIRED"
    body = run(client, "query($id: ID!) { product(id: $id) { id status } }", {"id": product["id"]})
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "ProductStatus" in error["message"] and error["path"] == ["product", "status"]
