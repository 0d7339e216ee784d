"""The Admin GraphQL schema (API 2026-10), document validation and Shopify's query-cost rules."""

from __future__ import annotations

import gzip
import json
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import graphql
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

#: Shopify's own 2026-10 introspection result (from @shopify/dev-mcp 1.16.0, ISC licence).
SCHEMA_FILE = Path(__file__).parent / "data" / "shopify-admin-2026-10.introspection.json.gz"
#: The Admin API version the schema file describes.
SCHEMA_VERSION = "2026-10"

_lock = threading.Lock()


@lru_cache(maxsize=1)
def admin_schema() -> GraphQLSchema:
    """The 2026-10 Admin API schema, built once per process from the introspection file."""
    with gzip.open(SCHEMA_FILE, "rt", encoding="utf-8") as fh:
        schema = graphql.build_client_schema(json.load(fh)["data"], assume_valid=True)
    # Shopify's own schema breaks two rules newer graphql-core versions check on the *schema* (deprecated
    # implementations of non-deprecated interface fields). It is the schema production serves, so accept it
    # as is; documents are still validated against it in full.
    schema._validation_errors = []
    return schema


_UNDEFINED_FIELD = re.compile(r"^Cannot query field '(\w+)' on type '(\w+)'\.")
_UNKNOWN_ARG = re.compile(r"^Unknown argument '(\w+)' on field '(\w+)\.(\w+)'\.")


def _shopify_error(error: graphql.GraphQLError) -> dict[str, Any]:
    """Reshape a graphql-core validation error the way Shopify (graphql-ruby) words the common ones."""
    body: dict[str, Any] = {"message": error.message}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if m := _UNDEFINED_FIELD.match(error.message):
        body["message"] = f"Field '{m[1]}' doesn't exist on type '{m[2]}'"
        body["extensions"] = {"code": "undefinedField", "typeName": m[2], "fieldName": m[1]}
    elif m := _UNKNOWN_ARG.match(error.message):
        body["message"] = f"Field '{m[3]}' doesn't accept argument '{m[1]}'"
        body["extensions"] = {"code": "argumentNotAccepted", "name": m[3], "typeName": "Field", "argumentName": m[1]}
    else:
        body["extensions"] = {"code": "GRAPHQL_VALIDATION_FAILED"}
    return body


@lru_cache(maxsize=512)
def parse_and_validate(query: str) -> tuple[DocumentNode | None, tuple[dict[str, Any], ...]]:
    """Parse and validate a document against the real schema. Cached per query text (clients reuse documents)."""
    try:
        document = graphql.parse(query)
    except graphql.GraphQLError as exc:
        loc = exc.locations[0] if exc.locations else None
        error: dict[str, Any] = {"message": f"syntax error: {exc.message}"}
        if loc:
            error["locations"] = [{"line": loc.line, "column": loc.column}]
        return None, (error,)
    with _lock:  # graphql-core's validation is not documented as thread-safe over a shared schema
        errors = graphql.validate(admin_schema(), document)
    return document, tuple(_shopify_error(e) for e in errors)


# --------------------------------------------------------------------------- cost


def type_weight(name: str) -> int:
    """Shopify's per-object cost: connections 2, edges and page info 0, every other object 1."""
    if name.endswith("Connection"):
        return 2
    if name.endswith("Edge") or name == "PageInfo":
        return 0
    return 1


MUTATION_COST = 10


def _arg(field: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for arg in field.arguments or ():
        if arg.name.value == name:
            return graphql.value_from_ast_untyped(arg.value, variables)
    return None


def requested_cost(
    document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any], bulk: bool = False
) -> int:
    """The cost Shopify reserves before running ``operation``: scalars 0, objects 1, connections 2 + n x node cost."""
    schema = admin_schema()
    if operation.operation is graphql.OperationType.MUTATION:
        return MUTATION_COST * len(operation.selection_set.selections)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def selection_cost(selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None:
            return 0
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += field_cost(node, parent)
            elif isinstance(node, InlineFragmentNode):
                target = schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                total += selection_cost(node.selection_set, target)
            elif isinstance(node, FragmentSpreadNode):
                fragment = fragments[node.name.value]
                total += selection_cost(fragment.selection_set, schema.get_type(fragment.type_condition.name.value))
        return total

    def field_cost(node: FieldNode, parent: Any) -> int:
        name = node.name.value
        if name.startswith("__") or not hasattr(parent, "fields"):
            return 0
        field_def = parent.fields[name]
        named = graphql.get_named_type(field_def.type)
        if not graphql.is_composite_type(named):
            return 0
        inner = selection_cost(node.selection_set, named)
        if named.name.endswith("Connection"):
            size = _arg(node, "first", variables) or _arg(node, "last", variables) or (250 if bulk else 0)
            return type_weight(named.name) + size * inner
        if graphql.is_list_type(graphql.get_nullable_type(field_def.type)):
            ids = _arg(node, "ids", variables)
            size = len(ids) if isinstance(ids, list) else (_arg(node, "first", variables) or 1)
            return size * (type_weight(named.name) + inner)
        return type_weight(named.name) + inner

    root: GraphQLObjectType = schema.query_type  # type: ignore[assignment]
    return selection_cost(operation.selection_set, root)
