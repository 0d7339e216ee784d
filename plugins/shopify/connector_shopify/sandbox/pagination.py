"""Relay cursor pagination the way Shopify does it: ``first``/``after``, ``last``/``before``, ``reverse``."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable, Iterator
from typing import Any

from connector_shopify.sandbox.executor import ExecutionError
from connector_shopify.sandbox.store import Sorted

Predicate = Callable[[dict[str, Any]], bool] | None


def encode_cursor(num: int) -> str:
    return base64.b64encode(json.dumps({"last_id": num, "last_value": num}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        return int(json.loads(base64.b64decode(cursor, validate=True))["last_id"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ExecutionError("Invalid cursor for current pagination sort.", "BAD_REQUEST") from None


def _scan(
    records: Sorted, start: int | None, descending: bool, predicate: Predicate, only: set[int] | None = None
) -> Iterator[dict[str, Any]]:
    ids = records.ids if only is None else sorted(n for n in only if n in records.by_id)
    if not descending:
        index = bisect.bisect_right(ids, start) if start is not None else 0
        step_range = range(index, len(ids))
    else:
        index = bisect.bisect_left(ids, start) - 1 if start is not None else len(ids) - 1
        step_range = range(index, -1, -1)
    for i in step_range:
        record = records.by_id[ids[i]]
        if predicate is None or predicate(record):
            yield record


def connection(
    records: Sorted,
    args: dict[str, Any],
    predicate: Predicate,
    ctx: Any,
    max_page: int,
    only: set[int] | None = None,
) -> Any:
    """A connection value (``edges``, ``nodes``, ``pageInfo``), or every matching record in a bulk query.

    ``only`` narrows the records to these ids (a search answered from an index); ``predicate`` still applies.
    """
    sort_key = args.get("sortKey")
    if sort_key not in (None, "ID", "CREATED_AT", "POSITION"):
        raise ExecutionError(f"The Shopify sandbox only sorts by ID/CREATED_AT, not {sort_key}", "SANDBOX_UNSUPPORTED")
    reverse = bool(args.get("reverse"))
    if ctx.bulk:
        return _scan(records, None, reverse, predicate, only)
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise ExecutionError("you must provide one of first or last", "BAD_REQUEST")
    if first is not None and last is not None:
        raise ExecutionError("providing both first and last is not supported", "BAD_REQUEST")
    chosen: Any = first if first is not None else last  # an Int argument, checked by the schema
    size = int(chosen)
    if size < 0 or size > max_page:
        raise ExecutionError(
            f"The {'first' if first is not None else 'last'} argument must be between 0 and {max_page}; "
            "use bulk operations for more.",
            "BAD_REQUEST",
        )
    if first is not None:
        after = decode_cursor(args["after"]) if args.get("after") else None
        found = _take(_scan(records, after, reverse, predicate, only), size + 1)
        has_next, has_previous = len(found) > size, after is not None
        found = found[:size]
    else:
        before = decode_cursor(args["before"]) if args.get("before") else None
        found = _take(_scan(records, before, not reverse, predicate, only), size + 1)
        has_next, has_previous = before is not None, len(found) > size
        found = found[:size][::-1]
    return page(found, has_next, has_previous)


def page(found: list[dict[str, Any]], has_next: bool, has_previous: bool) -> dict[str, Any]:
    cursors = [encode_cursor(r["_num"]) for r in found]
    return {
        "edges": [{"cursor": c, "node": r} for c, r in zip(cursors, found, strict=True)],
        "nodes": found,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def list_connection(items: list[dict[str, Any]], args: dict[str, Any], ctx: Any, max_page: int) -> Any:
    """A connection over a short list owned by a parent (variants of a product, line items of an order)."""
    records = Sorted()
    for item in items:
        records.add(item)
    return connection(records, args, None, ctx, max_page)


def _take(iterator: Iterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    out = []
    for record in iterator:
        out.append(record)
        if len(out) >= count:
            break
    return out
