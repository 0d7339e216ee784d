"""Incremental catalog reads within Shopify's query-cost budget.

Shopify charges every GraphQL query from a leaky bucket (Standard plan: 100 points/s); a variant with its
product, options, first media and inventory item costs 12 points, so on a busy catalog the bucket, not the
network, sets the pace (docs/benchmarks.md has the profile). The read therefore asks only for what it needs:

1. variants changed since the cursor, with their product (``productVariants(query: "updated_at:>=…")``);
2. products changed since the cursor with their variant count (2 points each): a product whose every variant
   came in step 1 is complete; the others had a product-level change (title, status…) or a variant change
   Shopify did not stamp on the variant, so their other variants must be re-read with the new product fields;
3. those other variants, without the product fields when step 1 already brought them (9 points instead of 12),
   excluding the variants already read (``-id:``), and each page sized to what is expected so the requested
   cost (reserved up front) matches the actual cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from connector_shopify import mapping, queries
from connector_shopify.client import ShopifyGraphQL

from connector import model

#: Shopify's single-query limit (points); a page's requested cost stays under it.
MAX_QUERY_COST = 1000
#: Requested points per node: VARIANTS_PAGE 12, SIBLING_VARIANTS 9, CHANGED_PRODUCTS 2 (+2 per connection).
CONNECTION_COST = 2
NODE_COST = {queries.VARIANTS_PAGE: 12, queries.SIBLING_VARIANTS: 9, queries.CHANGED_PRODUCTS: 2}
VARIANT_PAGE = (MAX_QUERY_COST - CONNECTION_COST) // NODE_COST[queries.VARIANTS_PAGE]
SIBLING_PAGE = (MAX_QUERY_COST - CONNECTION_COST) // NODE_COST[queries.SIBLING_VARIANTS]
PRODUCT_PAGE = 250

Learn = Callable[[dict[str, Any], model.Variant], None]


def _num(gid: str) -> str:
    return gid.rsplit("/", 1)[-1]


def quote(value: str) -> str:
    """A value quoted for Shopify's search syntax."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class DeltaReader:
    """Reads what changed since a moment; one instance per sync run."""

    def __init__(self, gql: ShopifyGraphQL, shop: mapping.ShopInfo, learn: Learn):
        self.gql = gql
        self.shop = shop
        self.learn = learn
        self.products: dict[str, dict[str, Any]] = {}  # product GID -> product fields read in step 1
        self.seen: dict[str, set[str]] = {}  # product GID -> variant GIDs already yielded

    def _pages(self, document: str, query: str, size: int, root: str) -> Iterator[dict[str, Any]]:
        after = None
        cost = CONNECTION_COST + NODE_COST[document] * size
        while True:
            page = self.gql.execute(document, {"first": size, "after": after, "query": query}, cost=cost)[root]
            yield from page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]

    def _yield(self, node: dict[str, Any], product: dict[str, Any]) -> model.Variant:
        self.seen.setdefault(product["id"], set()).add(node["id"])
        variant = mapping.variant(node, product, self.shop)
        self.learn(node, variant)
        return variant

    def read(self, stamp: str) -> Iterator[model.Variant]:
        """Every variant whose own or product's data changed at or after ``stamp`` (``2026-12-07T10:00:00Z``)."""
        since = f"updated_at:>={quote(stamp)}"
        for node in self._pages(queries.VARIANTS_PAGE, since, VARIANT_PAGE, "productVariants"):
            self.products[node["product"]["id"]] = node["product"]
            yield self._yield(node, node["product"])
        stale: list[tuple[str, int]] = []
        for node in self._pages(queries.CHANGED_PRODUCTS, since, PRODUCT_PAGE, "products"):
            missing = int(node["variantsCount"]["count"]) - len(self.seen.get(node["id"], ()))
            if missing > 0:
                stale.append((node["id"], missing))
        known = [item for item in stale if item[0] in self.products]
        fresh = [item for item in stale if item[0] not in self.products]
        for batch, expected in _batches(known, SIBLING_PAGE):
            for node in self._pages(queries.SIBLING_VARIANTS, self._others(batch), expected, "productVariants"):
                yield self._yield(node, self.products[node["product"]["id"]])
        for batch, expected in _batches(fresh, VARIANT_PAGE):
            for node in self._pages(queries.VARIANTS_PAGE, self._others(batch), expected, "productVariants"):
                yield self._yield(node, node["product"])

    def _others(self, products: list[str]) -> str:
        """Search for the variants of ``products`` not read yet."""
        read = [v for p in products for v in sorted(self.seen.get(p, ()))]
        return " ".join([f"product_ids:{','.join(_num(p) for p in products)}", *(f"-id:{_num(v)}" for v in read)])


def _batches(items: list[tuple[str, int]], limit: int) -> Iterator[tuple[list[str], int]]:
    """Products grouped so each group's expected variant count fits one page (a bigger product gets its own)."""
    batch: list[str] = []
    expected = 0
    for product, missing in items:
        if batch and expected + missing > limit:
            yield batch, min(expected, limit)
            batch, expected = [], 0
        batch.append(product)
        expected += missing
    if batch:
        yield batch, min(expected, limit)
