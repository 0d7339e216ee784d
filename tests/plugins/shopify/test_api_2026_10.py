"""Admin API 2026-10: every document the plugin sends, the version setting, Shopify's fall-forward for retired
versions, webhook subscriptions by ``uri``, and incremental reads that spend the cost bucket only on what changed.

Real HTTP against the Shopify sandbox; the schema is Shopify's own 2026-10 introspection result.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import graphql
import pytest
import requests
from connector_shopify import queries
from connector_shopify.adapter import DEFAULT_API_VERSION, ShopifyAdapter
from connector_shopify.delta import (
    CONNECTION_COST,
    MAX_QUERY_COST,
    NODE_COST,
    PRODUCT_PAGE,
    SIBLING_PAGE,
    VARIANT_PAGE,
)
from connector_shopify.sandbox import ShopifySandbox
from connector_shopify.sandbox.schema import SCHEMA_FILE, requested_cost
from graphql import TypeInfo, TypeInfoVisitor, Visitor, visit

from connector.errors import SettingsError
from connector.sandbox.recorder import WebhookRecorder

from .conftest import gql, post

SHARED_SCHEMA = Path("/work/shared/schemas/shopify-admin-2026-10.introspection.json.gz")
#: Fragments of documents, not documents.
PIECES = {"PRODUCT_FIELDS", "VARIANT_FIELDS", "ORDER_FIELDS", "MONEY"}
DOCUMENTS = {
    name: value
    for name, value in vars(queries).items()
    if name.isupper() and isinstance(value, str) and name not in PIECES
}


def _schema() -> graphql.GraphQLSchema:
    # The sandbox ships a copy of the shared file; prefer the shared original where this machine has it.
    path = SHARED_SCHEMA if SHARED_SCHEMA.exists() else SCHEMA_FILE
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return graphql.build_client_schema(json.load(fh)["data"], assume_valid=True)


SCHEMA = _schema()


class _Deprecated(Visitor):
    """Collects every deprecated field, argument, input field and enum value a document uses."""

    def __init__(self, info: TypeInfo):
        super().__init__()
        self.info = info
        self.found: list[str] = []

    def enter_field(self, node: Any, *_: Any) -> None:
        field, parent = self.info.get_field_def(), self.info.get_parent_type()
        if field is not None and field.deprecation_reason:
            self.found.append(f"{parent}.{node.name.value} ({field.deprecation_reason})")

    def enter_argument(self, node: Any, *_: Any) -> None:
        argument = self.info.get_argument()
        if argument is not None and argument.deprecation_reason:
            self.found.append(f"argument {node.name.value} ({argument.deprecation_reason})")

    def enter_object_field(self, node: Any, *_: Any) -> None:
        parent = graphql.get_named_type(self.info.get_parent_input_type())
        if isinstance(parent, graphql.GraphQLInputObjectType):
            field = parent.fields.get(node.name.value)
            if field is not None and field.deprecation_reason:
                self.found.append(f"{parent.name}.{node.name.value} ({field.deprecation_reason})")

    def enter_enum_value(self, node: Any, *_: Any) -> None:
        enum = graphql.get_named_type(self.info.get_input_type())
        if isinstance(enum, graphql.GraphQLEnumType):
            value = enum.values.get(node.value)
            if value is not None and value.deprecation_reason:
                self.found.append(f"{enum.name}.{node.value} ({value.deprecation_reason})")


def deprecated_uses(document: graphql.DocumentNode) -> list[str]:
    info = TypeInfo(SCHEMA)
    visitor = _Deprecated(info)
    visit(document, TypeInfoVisitor(info, visitor))
    return visitor.found


# --------------------------------------------------------------------------- documents


def test_the_checker_catches_deprecated_fields() -> None:
    old = graphql.parse(
        "query { currentBulkOperation { id } productVariants(first: 1) { nodes { image { url } } } "
        'webhookSubscriptions(first: 1, callbackUrl: "https://x.example") { nodes { id } } }'
    )
    found = " ".join(deprecated_uses(old))
    assert "currentBulkOperation" in found and "ProductVariant.image" in found and "callbackUrl" in found


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_document_validates_against_2026_10_without_deprecated_fields(name: str) -> None:
    document = graphql.parse(DOCUMENTS[name])
    assert [e.message for e in graphql.validate(SCHEMA, document)] == []
    assert deprecated_uses(document) == []


def test_the_bulk_catalog_query_keeps_shopifys_bulk_limits() -> None:
    """At most five connections, nested at most two deep (products > variants > media would be three)."""
    document = graphql.parse(queries.BULK_CATALOG)
    depth: list[int] = []

    def walk(selection_set: Any, parent: Any, level: int) -> None:
        for node in selection_set.selections if selection_set else ():
            field_type = graphql.get_named_type(parent.fields[node.name.value].type)
            here = level + 1 if field_type.name.endswith("Connection") else level
            if here > level:
                depth.append(here)
            walk(node.selection_set, field_type, here)

    walk(document.definitions[0].selection_set, SCHEMA.query_type, 0)  # type: ignore[attr-defined]
    assert len(depth) <= 5 and max(depth) <= 2


@pytest.mark.parametrize(
    ("name", "page"),
    [("VARIANTS_PAGE", VARIANT_PAGE), ("SIBLING_VARIANTS", SIBLING_PAGE), ("CHANGED_PRODUCTS", PRODUCT_PAGE)],
)
def test_pages_stay_under_the_single_query_cost_limit(name: str, page: int) -> None:
    document = graphql.parse(DOCUMENTS[name])
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    cost = requested_cost(document, operation, {"first": page})
    assert cost <= MAX_QUERY_COST
    assert requested_cost(document, operation, {"first": page + 1}) > MAX_QUERY_COST or page == PRODUCT_PAGE


@pytest.mark.parametrize("name", ["VARIANTS_PAGE", "SIBLING_VARIANTS", "CHANGED_PRODUCTS"])
def test_the_incremental_read_knows_each_pages_cost_before_asking(name: str) -> None:
    """The cost the incremental read waits for before its first page of a kind is the cost Shopify will reserve
    (so no query is sent on a guess and answered THROTTLED)."""
    document = graphql.parse(DOCUMENTS[name])
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    for first in (1, 7, 50, 83):
        cost = CONNECTION_COST + NODE_COST[getattr(queries, name)] * first
        assert requested_cost(document, operation, {"first": first}) == cost


# --------------------------------------------------------------------------- versions


def test_2026_10_is_the_default_and_retired_versions_are_refused() -> None:
    base = {"shop_url": "https://x.myshopify.com", "access_token": "t", "client_secret": "s"}
    assert ShopifyAdapter.validate_settings(base)["api_version"] == DEFAULT_API_VERSION == "2026-10"
    with pytest.raises(SettingsError, match="no longer serves 2025-01"):
        ShopifyAdapter.validate_settings({**base, "api_version": "2025-01"})
    assert ShopifyAdapter.validate_settings({**base, "api_version": "2026-01"})["api_version"] == "2026-01"


def test_a_retired_version_falls_forward_to_the_oldest_supported(sandbox: ShopifySandbox) -> None:
    answer = post(sandbox, "{ shop { name } }", version="2025-01")
    assert answer.status_code == 200
    assert answer.headers["X-Shopify-API-Version"] == "2026-01"
    assert answer.json()["data"]["shop"]["name"]
    assert post(sandbox, "{ shop { name } }", version="2026-10").headers["X-Shopify-API-Version"] == "2026-10"
    assert post(sandbox, "{ shop { name } }", version="latest").status_code == 404


def test_a_connection_saved_with_2025_01_calls_2026_10(sandbox: ShopifySandbox) -> None:
    # Settings stored before the upgrade carry the old default; they are not re-validated on load.
    adapter = ShopifyAdapter({**sandbox.connection_settings(), "api_version": "2025-01"})
    info = adapter.test_connection()
    assert info.details["api_version"] == "2026-10" == info.details["served_api_version"]


def test_the_served_version_is_reported_when_shopify_falls_forward() -> None:
    with ShopifySandbox(options={"supported_versions": ["2026-04", "2026-07", "2026-10"]}) as sandbox:
        adapter = ShopifyAdapter(
            ShopifyAdapter.validate_settings({**sandbox.connection_settings(), "api_version": "2026-01"})
        )
        info = adapter.test_connection()
    assert info.details["api_version"] == "2026-01"
    assert info.details["served_api_version"] == "2026-04"


# --------------------------------------------------------------------------- webhooks, bulk


def test_webhooks_are_subscribed_by_uri(sandbox: ShopifySandbox, adapter: ShopifyAdapter) -> None:
    with WebhookRecorder() as recorder:
        url = recorder.url + "/hook"
        adapter.register_webhooks(url)
        adapter.register_webhooks(url)  # idempotent: found by uri, not created twice
        nodes = gql(
            sandbox,
            "query($u: String!) { webhookSubscriptions(first: 50, uri: $u) { nodes { topic uri } } }",
            {"u": url},
        )["data"]["webhookSubscriptions"]["nodes"]
    topics = [n["topic"] for n in nodes]
    assert sorted(topics) == sorted(t.upper().replace("/", "_") for t in adapter.webhook_topics)
    assert {n["uri"] for n in nodes} == {url}


def test_a_bad_uri_is_refused_on_the_uri_field(sandbox: ShopifySandbox) -> None:
    body = gql(
        sandbox,
        'mutation { webhookSubscriptionCreate(topic: PRODUCTS_UPDATE, webhookSubscription: {uri: "ftp://x"}) '
        "{ webhookSubscription { id } userErrors { field message } } }",
    )
    assert body["data"]["webhookSubscriptionCreate"]["userErrors"] == [
        {"field": ["webhookSubscription", "uri"], "message": "Address is invalid"}
    ]


def _bulk_rows(sandbox: ShopifySandbox, group: bool) -> list[dict[str, Any]]:
    query = "{ productVariants { edges { node { id media { edges { node { id } } } product { id } } } } }"
    run = gql(
        sandbox,
        "mutation($q: String!, $g: Boolean!) { bulkOperationRunQuery(query: $q, groupObjects: $g) "
        "{ bulkOperation { id } userErrors { message } } }",
        {"q": query, "g": group},
    )["data"]["bulkOperationRunQuery"]
    assert run["userErrors"] == []
    op: dict[str, Any] = {}
    deadline = time.monotonic() + 120  # progress, not speed: a loaded machine may be slow
    while time.monotonic() < deadline:
        ops = gql(sandbox, '{ bulkOperations(first: 1, query: "operation_type:query") { nodes { id status url } } }')
        op = ops["data"]["bulkOperations"]["nodes"][0]
        if op["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert op["id"] == run["bulkOperation"]["id"] and op["status"] == "COMPLETED"
    return [json.loads(line) for line in requests.get(op["url"], timeout=30).text.splitlines()]


def test_bulk_operations_lists_the_newest_first_and_filters_by_status(sandbox: ShopifySandbox) -> None:
    _bulk_rows(sandbox, True)
    second = _bulk_rows(sandbox, True)
    assert len(second) == len(sandbox.variant_ids())  # the seed variants have no media of their own
    nodes = gql(sandbox, '{ bulkOperations(first: 5, query: "status:completed") { nodes { id } } }')["data"][
        "bulkOperations"
    ]["nodes"]
    assert len(nodes) == 2 and nodes[0]["id"] > nodes[1]["id"]
    running = gql(sandbox, '{ bulkOperations(first: 5, query: "status:running") { nodes { id } } }')
    assert running["data"]["bulkOperations"]["nodes"] == []


def test_the_full_read_runs_one_grouped_bulk_query(sandbox: ShopifySandbox, adapter: ShopifyAdapter) -> None:
    variants = list(adapter.iter_variants())
    assert sorted(v.external_id for v in variants) == sorted(sandbox.variant_ids())
    assert all(v.image_url for v in variants)  # the product's featured image where the variant has none


# --------------------------------------------------------------------------- incremental reads


def _meter(sandbox: ShopifySandbox) -> dict[str, Any]:
    return sandbox.control("GET", "cost")


def test_a_product_level_change_re_reads_all_its_variants(sandbox: ShopifySandbox, adapter: ShopifyAdapter) -> None:
    product = next(p for p, n in _variant_counts(adapter).items() if n >= 3)
    since = datetime.now(UTC)
    sandbox.set_published(product, False)
    changed = list(adapter.iter_variants(updated_since=since))
    assert {v.product_external_id for v in changed} == {product}
    assert len(changed) == _variant_counts(adapter)[product] and not any(v.published for v in changed)


def test_a_variant_change_reads_the_rest_of_its_product_once(sandbox: ShopifySandbox, adapter: ShopifyAdapter) -> None:
    counts = _variant_counts(adapter)
    product = next(p for p, n in counts.items() if n >= 3)
    variant = next(v for v in adapter.iter_variants() if v.product_external_id == product)
    since = datetime.now(UTC)
    sandbox.set_price(variant.external_id, variant.price.amount + 1)
    changed = list(adapter.iter_variants(updated_since=since))
    # Shopify stamps the product too, so the others are read again (their product fields may have changed),
    # each exactly once.
    assert sorted(v.external_id for v in changed) == sorted({v.external_id for v in changed})
    assert len(changed) == counts[product]
    assert next(v for v in changed if v.external_id == variant.external_id).price.amount == variant.price.amount + 1


def test_a_single_variant_product_costs_no_second_read(sandbox: ShopifySandbox, adapter: ShopifyAdapter) -> None:
    product = next(p for p, n in _variant_counts(adapter).items() if n == 1)
    since = datetime.now(UTC)
    sandbox.set_stock(product, 7)  # a simple product is named by its product id
    before = _meter(sandbox)
    changed = list(adapter.iter_variants(updated_since=since))
    after = _meter(sandbox)
    assert [(v.external_id, v.stock_quantity) for v in changed] == [(product, 7)]
    # One page of changed variants and one of changed products; no sibling search.
    assert after["queries"] - before["queries"] == 2
    assert after["points"] - before["points"] <= 2 * 14


def _variant_counts(adapter: ShopifyAdapter) -> dict[str, int]:
    counts: dict[str, int] = {}
    for variant in adapter.iter_variants():
        counts[variant.product_external_id] = counts.get(variant.product_external_id, 0) + 1
    return counts


# --------------------------------------------------------------------------- searches


SEARCHES = [
    "product_ids:{p1},{p2}",
    "product_ids:{p1},{p2} -id:{v1}",
    "product_id:{p1} OR id:{v1}",
    "updated_at:>'2000-01-01T00:00:00Z'",
    "updated_at:<'2000-01-01T00:00:00Z'",
    "updated_at:>='2000-01-01T00:00:00Z' product_id:{p1}",
]


@pytest.mark.parametrize("template", SEARCHES)
def test_indexed_searches_answer_what_a_scan_would(sandbox: ShopifySandbox, template: str) -> None:
    nodes = gql(sandbox, "{ productVariants(first: 250) { nodes { id product { id } updatedAt } } }")["data"][
        "productVariants"
    ]["nodes"]
    products = sorted({n["product"]["id"] for n in nodes})
    p1, p2 = (p.rsplit("/", 1)[1] for p in products[:2])
    v1 = next(n["id"] for n in nodes if n["product"]["id"] == products[0]).rsplit("/", 1)[1]
    query = template.format(p1=p1, p2=p2, v1=v1)
    found = gql(sandbox, "query($q: String) { productVariants(first: 250, query: $q) { nodes { id } } }", {"q": query})
    expected = [n["id"] for n in nodes if _scan(n, query)]
    assert [n["id"] for n in found["data"]["productVariants"]["nodes"]] == expected


def _scan(node: dict[str, Any], query: str) -> bool:
    """The test's own reading of the few search forms above."""
    num = node["id"].rsplit("/", 1)[1]
    product = node["product"]["id"].rsplit("/", 1)[1]
    stamp = node["updatedAt"]
    ok = True
    for clause in query.replace(" OR ", "|").split():
        alternatives = []
        for term in clause.split("|"):
            negate = term.startswith("-")
            key, _, value = term.lstrip("-").partition(":")
            value = value.strip("'")
            if key == "product_ids":
                hit = product in value.split(",")
            elif key == "product_id":
                hit = product == value
            elif key == "id":
                hit = num == value
            else:
                op = ">=" if value.startswith(">=") else value[0]
                moment = value.lstrip("<>=").strip("'")
                hit = {">": stamp > moment, ">=": stamp >= moment, "<": stamp < moment}[op]
            alternatives.append(hit != negate)
        ok = ok and any(alternatives)
    return ok
