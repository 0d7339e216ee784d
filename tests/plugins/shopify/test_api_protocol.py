"""The sandbox speaks Shopify's Admin GraphQL protocol: auth, schema validation, error bodies, cost."""

from __future__ import annotations

import requests
from connector_shopify.sandbox import ShopifySandbox

from tests.plugins.shopify.conftest import gql, post


def test_wrong_or_missing_token_is_a_401_with_shopifys_body(sandbox: ShopifySandbox) -> None:
    for token in ("shpat_wrong", None):
        response = post(sandbox, "{ shop { name } }", token=token)
        assert response.status_code == 401
        assert response.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }


def test_unknown_api_version_is_not_found(sandbox: ShopifySandbox) -> None:
    assert post(sandbox, "{ shop { name } }", version="2025-02").status_code == 404
    ok = post(sandbox, "{ shop { name } }", version="2026-04")
    assert ok.status_code == 200 and ok.headers["X-Shopify-API-Version"] == "2026-04"


def test_documents_are_validated_against_the_real_schema(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, "{ products(first: 1) { nodes { id inventoryLevel } } }")
    assert "data" not in body
    error = body["errors"][0]
    assert error["message"] == "Field 'inventoryLevel' doesn't exist on type 'Product'"
    assert error["extensions"]["code"] == "undefinedField"
    # The removed scalar InventoryLevel.available (reference section 4) is rejected too.
    body = gql(
        sandbox,
        '{ inventoryItem(id: "gid://shopify/InventoryItem/1") { inventoryLevels(first: 1) { nodes { available } } } }',
    )
    assert "available" in body["errors"][0]["message"]
    # Shop.draftOrders was removed in 2026-01 (QueryRoot.draftOrders replaces it).
    body = gql(sandbox, "{ shop { draftOrders(first: 1) { nodes { id } } } }")
    assert body["errors"][0]["message"] == "Field 'draftOrders' doesn't exist on type 'Shop'"


def test_syntax_errors_and_bad_bodies(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, "{ shop { name ")
    assert body["errors"][0]["message"].startswith("syntax error")
    response = requests.post(
        f"{sandbox.url}/admin/api/2026-10/graphql.json",
        data="not json",
        headers={"X-Shopify-Access-Token": sandbox.options["access_token"], "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {"errors": {"query": "Required parameter missing or invalid"}}


def test_invalid_variables_are_reported(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, "query($n: Int!) { products(first: $n) { nodes { id } } }", {"n": "ten"})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"


def test_valid_but_unimplemented_fields_fail_loudly(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, "{ products(first: 1) { nodes { id seo { title } } } }")
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "SANDBOX_UNSUPPORTED"
    assert "Product.seo" in body["errors"][0]["message"]


def test_every_answer_reports_its_cost(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, "{ products(first: 10) { nodes { id title featuredMedia { id } } } }")
    cost = body["extensions"]["cost"]
    # Connection 2 + 10 x (product 1 + media 1).
    assert cost["requestedQueryCost"] == 22
    assert cost["actualQueryCost"] == 22
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 1000.0 and status["restoreRate"] == 100.0
    assert status["currentlyAvailable"] <= 1000 - 22 + 1


def test_actual_cost_counts_what_was_returned(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, '{ products(first: 50, query: "handle:nothing-has-this-handle") { nodes { id } } }')
    assert body["data"]["products"]["nodes"] == []
    assert body["extensions"]["cost"]["requestedQueryCost"] == 52
    assert body["extensions"]["cost"]["actualQueryCost"] == 2


def test_queries_over_the_single_query_limit_are_refused(sandbox: ShopifySandbox) -> None:
    body = gql(sandbox, "{ products(first: 250) { nodes { id variants(first: 100) { nodes { id } } } } }")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["maxCost"] == 1000
    assert "data" not in body


def test_mutations_cost_ten(sandbox: ShopifySandbox) -> None:
    body = gql(
        sandbox,
        "mutation($t: WebhookSubscriptionTopic!, $s: WebhookSubscriptionInput!) { "
        "webhookSubscriptionCreate(topic: $t, webhookSubscription: $s) { userErrors { message } } }",
        {"t": "PRODUCTS_UPDATE", "s": {"callbackUrl": "https://example.com/hook", "format": "JSON"}},
    )
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10


def test_fail_next_gives_server_errors_then_recovers(sandbox: ShopifySandbox) -> None:
    sandbox.fail_next(2, 503)
    assert post(sandbox, "{ shop { name } }").status_code == 503
    assert post(sandbox, "{ shop { name } }").status_code == 503
    assert post(sandbox, "{ shop { name } }").json()["data"]["shop"]["name"]
