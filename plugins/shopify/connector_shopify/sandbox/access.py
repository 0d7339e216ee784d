"""Access scopes: which scopes the sandbox token holds, and Shopify's ``ACCESS_DENIED`` answers without them.

Shopify (changelog 2020-07, "New error messages for GraphQL operations without necessary access scopes")
answers a field the token may not use with HTTP 200 and an ``errors`` entry::

    {"message": "Access denied for orders field. Required access: `read_orders` access scope.",
     "locations": [...], "path": ["orders"],
     "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": "`read_orders` access scope."}}

and the field itself is ``null`` (so ``data`` is ``null`` when the field is non-null). A scope that
writes a resource also grants reading it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import graphql
from connector_shopify.sandbox.executor import Context, ExecutionError
from connector_shopify.sandbox.schema import admin_schema
from graphql import FieldNode, OperationDefinitionNode
from graphql.execution.values import get_argument_values

if TYPE_CHECKING:
    from connector_shopify.sandbox.executor import Executor

DOCS = "https://shopify.dev/api/usage/access-scopes"
HANDLE = re.compile(r"^(unauthenticated_)?(read|write)_[a-z][a-z_]*[a-z]$")

#: What a custom app for the connector is granted unless a test says otherwise.
DEFAULT_SCOPES: tuple[str, ...] = (
    "read_products",
    "read_inventory",
    "read_orders",
    "write_orders",
    "read_fulfillments",
)

#: Descriptions as ``AccessScope.description`` words them (Shopify's appInstallation example).
DESCRIPTIONS = {
    "read_products": "Read products, variants, and collections",
    "write_products": "Modify products, variants, and collections",
    "read_orders": "Read orders, transactions, and fulfillments",
    "write_orders": "Modify orders, transactions, and fulfillments",
    "read_customers": "Read customer details and customer groups",
    "write_customers": "Modify customer details and customer groups",
    "read_inventory": "Read inventory",
    "write_inventory": "Modify inventory",
    "read_fulfillments": "Read fulfillment services",
    "write_fulfillments": "Modify fulfillment services",
}

#: ``(parent type, field)`` -> the scopes any one of which allows it, for the fields the sandbox implements.
FIELD_SCOPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("QueryRoot", "products"): ("read_products",),
    ("QueryRoot", "productVariants"): ("read_products",),
    ("QueryRoot", "product"): ("read_products",),
    ("QueryRoot", "productVariant"): ("read_products",),
    # Since 2025-01-22 InventoryItem is readable with the products scopes too (Shopify changelog).
    ("QueryRoot", "inventoryItem"): ("read_inventory", "read_products"),
    ("QueryRoot", "orders"): ("read_orders",),
    ("QueryRoot", "order"): ("read_orders",),
    ("QueryRoot", "abandonedCheckouts"): ("read_orders",),
    ("Mutation", "orderCreate"): ("write_orders",),
    ("Mutation", "orderUpdate"): ("write_orders",),
}

#: Types reached through ``node``/``nodes`` -> the scopes any one of which allows reading them.
NODE_SCOPES: dict[str, tuple[str, ...]] = {
    "Product": ("read_products",),
    "ProductVariant": ("read_products",),
    "InventoryItem": ("read_inventory", "read_products"),
    "Order": ("read_orders",),
    "Fulfillment": ("read_orders",),
    "AbandonedCheckout": ("read_orders",),
}


def effective(granted: Iterable[str]) -> set[str]:
    """``granted`` plus the read scopes its write scopes imply."""
    result = set(granted)
    for handle in list(result):
        if handle.startswith("write_"):
            result.add("read_" + handle.removeprefix("write_"))
        elif handle.startswith("unauthenticated_write_"):
            result.add("unauthenticated_read_" + handle.removeprefix("unauthenticated_write_"))
    return result


def parse_scopes(value: Any) -> list[str]:
    """Scope handles from a list or a comma-separated string; ``ValueError`` naming a malformed one."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("scopes must be a list of handles such as read_products, or a comma-separated string")
    handles = [str(item).strip() for item in items if str(item).strip()]
    for handle in handles:
        if not HANDLE.match(handle):
            raise ValueError(f"{handle!r} is not an access scope handle (read_<resource> or write_<resource>)")
    return list(dict.fromkeys(handles))


def app_installation(granted: Sequence[str]) -> dict[str, Any]:
    """``currentAppInstallation``: the scopes exactly as granted (implied read scopes are not listed)."""
    return {
        "__typename": "AppInstallation",
        "id": "gid://shopify/AppInstallation/7700000001",
        "accessScopes": [
            {
                "__typename": "AccessScope",
                "handle": handle,
                "description": DESCRIPTIONS.get(handle, handle.replace("_", " ").capitalize()),
            }
            for handle in granted
        ],
    }


@lru_cache(maxsize=1)
def topic_scopes() -> dict[str, tuple[str, ...]]:
    """``WebhookSubscriptionTopic`` value -> the scopes any one of which it requires, read from the schema's own
    descriptions ("Requires the `read_products` scope." / "Requires at least one of the following scopes: ...")."""
    enum = admin_schema().get_type("WebhookSubscriptionTopic")
    assert isinstance(enum, graphql.GraphQLEnumType)
    result: dict[str, tuple[str, ...]] = {}
    for name, value in enum.values.items():
        text = " ".join((value.description or "").split())  # the 2026-10 descriptions wrap lines
        if m := re.search(r"Requires the `(\w+)` scope", text):
            result[name] = (m[1],)
        elif m := re.search(r"Requires at least one of the following scopes: ([\w, ]+)", text):
            result[name] = tuple(s.strip() for s in m[1].split(",") if s.strip())
    return result


class AccessDenied(ExecutionError):
    """A field the token's scopes do not allow."""

    def __init__(self, field: str, scopes: Sequence[str], path: list[str | int], node: FieldNode | None = None):
        self.required = " or ".join(f"`{s}` access scope" for s in scopes) + "."
        super().__init__(f"Access denied for {field} field. Required access: {self.required}", "ACCESS_DENIED", path)
        self.node = node

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.node is not None and self.node.loc is not None:
            source, start = self.node.loc.source, self.node.loc.start
            loc = graphql.get_location(source, start)
            body["locations"] = [{"line": loc.line, "column": loc.column}]
        if self.path:
            body["path"] = self.path
        body["extensions"] = {"code": "ACCESS_DENIED", "documentation": DOCS, "requiredAccess": self.required}
        return body


def required(parent: str, field: str, args: dict[str, Any]) -> tuple[str, ...]:
    """The scopes (any one of them) ``parent.field`` needs with these arguments; empty when it needs none."""
    if (parent, field) == ("Mutation", "webhookSubscriptionCreate"):
        return topic_scopes().get(args.get("topic") or "", ())
    return FIELD_SCOPES.get((parent, field), ())


def check_node(granted: Iterable[str], record: dict[str, Any] | None, path: list[str | int]) -> None:
    """Raise :class:`AccessDenied` when ``node``/``nodes`` found a record the scopes do not allow reading."""
    if record is None:
        return
    needs = NODE_SCOPES.get(record.get("__typename", ""), ())
    if needs and not effective(granted) & set(needs):
        raise AccessDenied(str(path[0]) if path else "node", needs, path)


def denied_root_fields(
    executor: Executor, granted: Iterable[str], operation: OperationDefinitionNode, ctx: Context
) -> tuple[dict[str, AccessDenied], bool]:
    """The root fields of ``operation`` the scopes do not allow (response key -> error), and whether one of them
    is non-null (its ``null`` then makes the whole ``data`` ``null``)."""
    schema = admin_schema()
    root = schema.mutation_type if operation.operation is graphql.OperationType.MUTATION else schema.query_type
    assert root is not None
    have = effective(granted)
    denied: dict[str, AccessDenied] = {}
    non_null = False
    for node in executor.fields(operation.selection_set, root.name, ctx):
        name = node.name.value
        if name.startswith("__"):
            continue
        field_def = root.fields[name]
        needs = required(root.name, name, get_argument_values(field_def, node, ctx.variables))
        if needs and not have & set(needs):
            key = node.alias.value if node.alias else name
            denied[key] = AccessDenied(name, needs, [key], node)
            non_null = non_null or graphql.is_non_null_type(field_def.type)
    return denied, non_null
