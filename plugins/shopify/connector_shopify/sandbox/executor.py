"""A small GraphQL executor over the parsed AST for the fields the sandbox implements.

Values in the store are plain dicts already in GraphQL shape, so most fields are a dict lookup.
Fields that take arguments (connections, root fields) have resolvers. A field that is valid in the
schema but neither stored nor resolved raises :class:`Unsupported`: the sandbox answers with a
clear error instead of silently returning ``null``. Far faster than a general executor, which
matters when a benchmark pages through 100,000 variants.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import graphql
from connector_shopify.sandbox.schema import MUTATION_COST, admin_schema, type_weight
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution.values import get_argument_values, get_directive_values

Resolver = Callable[[Any, dict[str, Any], "Context"], Any]


class ExecutionError(Exception):
    """An error that ends the request with a GraphQL ``errors`` entry."""

    def __init__(self, message: str, code: str, path: list[str | int] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path or []

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "extensions": {"code": self.code}}
        if self.path:
            body["path"] = self.path
        return body


class Unsupported(ExecutionError):
    def __init__(self, what: str, path: list[str | int]):
        super().__init__(
            f"The Shopify sandbox does not implement {what}; the field is valid on Shopify. "
            "Add a resolver to connector_shopify.sandbox before relying on it.",
            "SANDBOX_UNSUPPORTED",
            path,
        )


class InvalidResponse(ExecutionError):
    """The sandbox produced a value its own schema forbids: a sandbox bug, never the client's."""

    def __init__(self, what: str, path: list[str | int]):
        super().__init__(
            f"The Shopify sandbox produced {what} at {'.'.join(map(str, path))}; this is a sandbox bug.",
            "INTERNAL_SERVER_ERROR",
            path,
        )


#: Python types a built-in scalar's value may have (``bool`` is an ``int``: refused for Int/Float below).
_SCALARS: dict[str, type | tuple[type, ...]] = {
    "String": str,
    "ID": str,
    "Boolean": bool,
    "Int": int,
    "Float": (int, float),
}


def _check_leaf(value: Any, type_: Any, path: list) -> None:
    """Enum values must be members of the enum; built-in scalars must have their JSON type."""
    if isinstance(type_, graphql.GraphQLEnumType):
        if not isinstance(value, str) or value not in type_.values:
            raise InvalidResponse(f"{value!r}, which is not a value of the enum '{type_.name}'", path)
        return
    expected = _SCALARS.get(type_.name)
    if expected is None:
        return  # custom scalars (DateTime, Money, URL...) are strings or numbers Shopify formats freely
    if not isinstance(value, expected) or (type_.name in ("Int", "Float") and isinstance(value, bool)):
        raise InvalidResponse(f"{value!r}, which is not a '{type_.name}'", path)


class BulkChildren(list):
    """The items of a nested connection in a bulk query: written as their own JSONL lines."""


@dataclass
class Context:
    """Per-request execution state."""

    document: DocumentNode
    variables: Any  # graphql-core VariableValues
    store: Any
    bulk: bool = False
    cost: int = 0
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    #: Bulk only: objects already completed, by (record, selection), e.g. the product shared by its variants.
    memo: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    #: Per request (variables are fixed): the collected fields of a selection set for a type, and the argument
    #: values of a field node. Keyed by id() with the key object kept, so a reused id cannot match.
    field_lists: dict[tuple[int, str], tuple[Any, list[FieldNode]]] = field(default_factory=dict)
    arguments: dict[int, tuple[FieldNode, dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fragments = {d.name.value: d for d in self.document.definitions if isinstance(d, FragmentDefinitionNode)}


class Executor:
    """Runs operations against ``resolvers`` (keyed by ``(TypeName, fieldName)``)."""

    def __init__(self, resolvers: dict[tuple[str, str], Resolver]):
        self.resolvers = resolvers
        self.schema = admin_schema()

    # ----------------------------------------------------------------- public

    def execute(self, ctx: Context, operation: OperationDefinitionNode, skip: Collection[str] = ()) -> dict[str, Any]:
        """Run ``operation``; root fields whose response key is in ``skip`` (access denied) are ``null``, not run."""
        if operation.operation is graphql.OperationType.MUTATION:
            root_type = self.schema.mutation_type
            ctx.cost += MUTATION_COST * len(operation.selection_set.selections)
        else:
            root_type = self.schema.query_type
        if root_type is None:  # the admin schema has both; a schema without one cannot run the operation
            raise ExecutionError(f"the schema has no {operation.operation.value} type", "INVALID")
        result: dict[str, Any] = {}
        for node in self.fields(operation.selection_set, root_type.name, ctx):
            key = node.alias.value if node.alias else node.name.value
            result[key] = None if key in skip else self.resolve_field({}, root_type, node, ctx, [key])
        return result

    def fields(self, selection_set: SelectionSetNode | None, type_name: str, ctx: Context) -> Iterable[FieldNode]:
        """Collect the fields of a selection set for a concrete type (fragments and @skip/@include applied);
        none for a leaf field (no selection set). Collected once per request and selection set."""
        if selection_set is None:
            return ()
        key = (id(selection_set), type_name)
        cached = ctx.field_lists.get(key)
        if cached is None or cached[0] is not selection_set:
            cached = (selection_set, list(self._collect(selection_set, type_name, ctx)))
            ctx.field_lists[key] = cached
        return cached[1]

    def _collect(self, selection_set: SelectionSetNode, type_name: str, ctx: Context) -> Iterator[FieldNode]:
        for node in selection_set.selections:
            if not self._included(node, ctx):
                continue
            if isinstance(node, FieldNode):
                yield node
            elif isinstance(node, InlineFragmentNode):
                if node.type_condition is None or self._applies(node.type_condition.name.value, type_name):
                    yield from self.fields(node.selection_set, type_name, ctx)
            elif isinstance(node, FragmentSpreadNode):
                fragment = ctx.fragments[node.name.value]
                if self._applies(fragment.type_condition.name.value, type_name):
                    yield from self.fields(fragment.selection_set, type_name, ctx)

    def complete_object(
        self, source: Any, type_: Any, selection_set: SelectionSetNode | None, ctx: Context, path: list
    ) -> dict[str, Any]:
        if not ctx.bulk:
            ctx.cost += type_weight(type_.name)
        elif path and isinstance(source, dict) and "id" in source:
            # A bulk result repeats shared records (a product under each of its variants): complete each once.
            key = (id(source), id(selection_set))
            if (done := ctx.memo.get(key)) is None:
                done = self._complete_fields(source, type_, selection_set, ctx, path)
                if not any(isinstance(v, BulkChildren) for v in done.values()):
                    ctx.memo[key] = done
            return done
        return self._complete_fields(source, type_, selection_set, ctx, path)

    def _complete_fields(
        self, source: Any, type_: Any, selection_set: SelectionSetNode | None, ctx: Context, path: list
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for node in self.fields(selection_set, type_.name, ctx):
            key = node.alias.value if node.alias else node.name.value
            result[key] = self.resolve_field(source, type_, node, ctx, [*path, key])
        return result

    def resolve_field(self, source: Any, parent: Any, node: FieldNode, ctx: Context, path: list) -> Any:
        name = node.name.value
        if name == "__typename":
            return parent.name
        field_def = parent.fields[name]
        resolver = self.resolvers.get((parent.name, name))
        if resolver is not None:
            cached = ctx.arguments.get(id(node))
            if cached is None or cached[0] is not node:
                cached = (node, get_argument_values(field_def, node, ctx.variables))
                ctx.arguments[id(node)] = cached
            value = resolver(source, dict(cached[1]), ctx)
        elif isinstance(source, dict) and name in source:
            value = source[name]
        else:
            raise Unsupported(f"the field '{parent.name}.{name}'", path)
        return self.complete_value(value, field_def.type, node, ctx, path)

    def complete_value(self, value: Any, type_: Any, node: FieldNode, ctx: Context, path: list) -> Any:
        # Every value is checked against the schema as it is written: the sandbox must never answer
        # what Shopify's schema forbids (a null in a non-null field, an enum value that does not exist).
        if graphql.is_non_null_type(type_):
            if value is None:
                raise InvalidResponse(f"null in the non-null field of type '{type_}'", path)
            type_ = type_.of_type
        if value is None:
            return None
        if graphql.is_list_type(type_):
            if not isinstance(value, list | tuple):
                raise InvalidResponse(f"{type(value).__name__} where the schema has the list type '{type_}'", path)
            item_type = type_.of_type
            done = [self.complete_value(v, item_type, node, ctx, [*path, i]) for i, v in enumerate(value)]
            return BulkChildren(done) if isinstance(value, BulkChildren) else done
        if graphql.is_leaf_type(type_):
            _check_leaf(value, type_, path)
            return value
        if graphql.is_abstract_type(type_):
            type_name = value.get("__typename") if isinstance(value, dict) else None
            concrete = self.schema.get_type(type_name) if type_name else None
            if concrete is None:
                raise Unsupported(f"resolving the abstract type '{type_.name}'", path)
            type_ = concrete
        if ctx.bulk and isinstance(value, BulkChildren):
            return value
        if ctx.bulk and type_.name.endswith("Connection"):
            return self._bulk_connection(value, type_, node, ctx, path)
        return self.complete_object(value, type_, node.selection_set, ctx, path)

    # ----------------------------------------------------------------- bulk

    def _bulk_connection(self, items: Any, type_: Any, node: FieldNode, ctx: Context, path: list) -> BulkChildren:
        """A connection inside a bulk query: every item, each completed on its own (no pageInfo)."""
        node_type, selection = self.node_selection(node.selection_set, type_, ctx)
        return BulkChildren(
            self.complete_value(item, node_type, _with_selection(node, selection), ctx, path) for item in items
        )

    def node_selection(self, selection_set: SelectionSetNode | None, conn_type: Any, ctx: Context) -> tuple[Any, Any]:
        """The node type and selection of a connection selected as ``edges { node { ... } }`` or ``nodes { ... }``."""
        node_type = graphql.get_named_type(conn_type.fields["nodes"].type)
        for f in self.fields(selection_set, conn_type.name, ctx):
            if f.name.value == "nodes":
                return node_type, f.selection_set
            if f.name.value == "edges":
                edge_type = graphql.get_named_type(conn_type.fields["edges"].type)
                for g in self.fields(f.selection_set, edge_type.name, ctx):
                    if g.name.value == "node":
                        return node_type, g.selection_set
        raise ExecutionError(f"Bulk queries must select 'edges {{ node }}' or 'nodes' on '{conn_type.name}'", "INVALID")

    # ----------------------------------------------------------------- helpers

    def _included(self, node: Any, ctx: Context) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, ctx.variables)
        if skip and skip.get("if"):
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, ctx.variables)
        return not (include is not None and not include.get("if"))

    def _applies(self, condition: str, type_name: str) -> bool:
        if condition == type_name:
            return True
        cond_type = self.schema.get_type(condition)
        concrete = self.schema.get_type(type_name)
        if concrete is None:
            return False
        return graphql.is_abstract_type(cond_type) and self.schema.is_sub_type(cond_type, concrete)


def _with_selection(node: FieldNode, selection: SelectionSetNode) -> FieldNode:
    return FieldNode(name=node.name, alias=node.alias, arguments=(), directives=(), selection_set=selection)
