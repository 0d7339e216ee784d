"""Bulk query operations: run a query over the whole shop in the background and serve the JSONL result."""

from __future__ import annotations

import json
import secrets
import threading
from typing import TYPE_CHECKING, Any

import graphql
from connector_shopify.sandbox import access
from connector_shopify.sandbox.executor import BulkChildren, Context, ExecutionError
from connector_shopify.sandbox.schema import admin_schema, parse_and_validate
from connector_shopify.sandbox.store import gid, iso, now
from graphql import FieldNode, OperationDefinitionNode

if TYPE_CHECKING:
    from connector_shopify.sandbox.api import ShopApi

MAX_CONNECTIONS = 5
MAX_DEPTH = 2


def _user_error(message: str, code: str = "INVALID") -> dict[str, Any]:
    """A ``BulkOperationUserError``: its ``code`` is a ``BulkOperationUserErrorCode``."""
    return {"__typename": "BulkOperationUserError", "field": ["query"], "message": message, "code": code}


class BulkRunner:
    """``bulkOperationRunQuery`` and the operations it starts (one query operation at a time: the 2026-07 reference still says so, see shopify.md §5)."""

    def __init__(self, api: ShopApi):
        self.api = api

    def run(self, query: str, group_objects: bool = False) -> dict[str, Any]:
        """Start a bulk query. ``group_objects`` (2026-01+, default false) keeps nested objects right after their
        parent in the JSONL; without it a parent's children may come later (here: after the next root object)."""
        store = self.api.store
        running = [op for op in store.bulk_ops.values() if op["status"] in ("CREATED", "RUNNING")]
        if running:
            return {
                "bulkOperation": None,
                "userErrors": [
                    _user_error(
                        f"A bulk query operation for this app and shop is already in progress: {running[0]['id']}.",
                        "OPERATION_IN_PROGRESS",
                    )
                ],
            }
        document, errors = parse_and_validate(query)
        if document is None or errors:
            return {"bulkOperation": None, "userErrors": [_user_error(f"Invalid bulk query: {errors[0]['message']}")]}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].operation is not graphql.OperationType.QUERY:
            return {"bulkOperation": None, "userErrors": [_user_error("Bulk queries must contain exactly one query.")]}
        problem = self._shape_problem(operations[0])
        if problem:
            return {"bulkOperation": None, "userErrors": [_user_error(problem)]}
        num = 3_300_000_000 + store.next_id("bulk")
        op: dict[str, Any] = {
            "__typename": "BulkOperation",
            "_num": num,
            "id": gid("BulkOperation", num),
            "status": "CREATED",
            "type": "QUERY",
            "query": query,
            "errorCode": None,
            "_created": now(),
            "createdAt": iso(now()),
            "completedAt": None,
            "objectCount": "0",
            "rootObjectCount": "0",
            "fileSize": None,
            "url": None,
            "partialDataUrl": None,
        }
        store.bulk_ops[num] = op
        threading.Thread(target=self._execute, args=(op, document, operations[0], group_objects), daemon=True).start()
        return {"bulkOperation": op, "userErrors": []}

    def _shape_problem(self, operation: OperationDefinitionNode) -> str | None:
        """Shopify's limits: at least one connection, at most five, nested at most two deep."""
        schema = admin_schema()
        count = 0
        deepest = 0

        def walk(selection_set: Any, parent: Any, depth: int) -> None:
            nonlocal count, deepest
            for node in selection_set.selections if selection_set else ():
                if not isinstance(node, FieldNode) or not hasattr(parent, "fields") or node.name.value.startswith("__"):
                    if not isinstance(node, FieldNode) and node.selection_set:
                        walk(node.selection_set, parent, depth)
                    continue
                named = graphql.get_named_type(parent.fields[node.name.value].type)
                here = depth
                if named.name.endswith("Connection"):
                    count += 1
                    here = depth + 1
                    deepest = max(deepest, here)
                walk(node.selection_set, named, here)

        walk(operation.selection_set, schema.query_type, 0)
        if count == 0:
            return "Bulk queries must contain at least one connection."
        if count > MAX_CONNECTIONS:
            return f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
        if deepest > MAX_DEPTH:
            return f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_DEPTH}."
        return None

    def _execute(
        self, op: dict[str, Any], document: Any, operation: OperationDefinitionNode, group_objects: bool
    ) -> None:
        api = self.api
        with api.store.lock:
            op["status"] = "RUNNING"
        try:
            with api.store.lock:
                lines, roots = self._lines(document, operation, group_objects)
        except access.AccessDenied as exc:
            with api.store.lock:
                op.update(status="FAILED", errorCode="ACCESS_DENIED", completedAt=iso(now()))
                op["_error"] = exc.message
            return
        except ExecutionError as exc:
            with api.store.lock:
                op.update(status="FAILED", errorCode="INTERNAL_SERVER_ERROR", completedAt=iso(now()))
                op["_error"] = exc.message
            return
        body = "".join(line + "\n" for line in lines).encode()
        token = secrets.token_urlsafe(16)
        with api.store.lock:
            api.store.bulk_files[token] = body
            op.update(
                status="COMPLETED",
                completedAt=iso(now()),
                objectCount=str(len(lines)),
                rootObjectCount=str(roots),
                fileSize=str(len(body)),
                url=f"{api.store.base_url}/bulk-results/{token}.jsonl" if lines else None,
            )

    def _lines(self, document: Any, operation: OperationDefinitionNode, group_objects: bool) -> tuple[list[str], int]:
        executor = self.api.executor
        schema = admin_schema()
        ctx = Context(document=document, variables=None, store=self.api.store, bulk=True)
        root_fields = list(executor.fields(operation.selection_set, "QueryRoot", ctx))
        if len(root_fields) != 1:
            raise ExecutionError("Bulk queries must select exactly one root connection.", "INVALID")
        root = root_fields[0]
        assert schema.query_type is not None  # the Admin API schema has a query root
        field_def = schema.query_type.fields[root.name.value]
        conn_type = graphql.get_named_type(field_def.type)
        resolver = executor.resolvers.get(("QueryRoot", root.name.value))
        if resolver is None or not conn_type.name.endswith("Connection"):
            raise ExecutionError(
                f"The sandbox cannot run bulk queries over '{root.name.value}'.", "SANDBOX_UNSUPPORTED"
            )
        from graphql.execution.values import get_argument_values

        args = get_argument_values(field_def, root, None)
        needs = access.required("QueryRoot", root.name.value, args)
        if needs and not access.effective(self.api.access_scopes) & set(needs):
            raise access.AccessDenied(root.name.value, needs, [root.name.value], root)
        items = resolver(None, args, ctx)
        node_type, selection = executor.node_selection(root.selection_set, conn_type, ctx)
        lines: list[str] = []
        pending: list[str] = []  # ungrouped: a root object's children follow the next root object
        roots = 0
        for item in items:
            roots += 1
            own: list[str] = []
            _flatten(executor.complete_object(item, node_type, selection, ctx, []), None, own)
            lines.append(own[0])
            if group_objects:
                lines.extend(own[1:])
            else:
                lines.extend(pending)
                pending = own[1:]
        lines.extend(pending)
        return lines, roots


def _flatten(obj: dict[str, Any], parent_id: str | None, out: list[str]) -> None:
    children: list[BulkChildren] = []
    line: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, BulkChildren):
            children.append(value)
        else:
            line[key] = value
    if parent_id is not None:
        line["__parentId"] = parent_id
    out.append(json.dumps(line, separators=(",", ":")))
    for group in children:
        if "id" not in obj:
            raise ExecutionError("The parent of a nested connection must select its 'id' field.", "INVALID")
        for child in group:
            _flatten(child, obj["id"], out)
