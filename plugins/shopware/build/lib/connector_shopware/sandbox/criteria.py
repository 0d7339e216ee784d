"""Shopware search criteria as the sandbox understands them: filters, sorting and paging.

Only what the DAL documents is accepted (``troubleshooting/dal-reference/filters-reference.md``); an
unknown filter type or a bad ``page``/``limit`` is a 400 like on a real shop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

#: ``resolve(record, "field.path")`` returns the value, or a list of values when the path crosses a to-many association.
Resolver = Callable[[Any, str], Any]

FILTER_TYPES = frozenset({"equals", "equalsAny", "contains", "prefix", "suffix", "range", "multi", "not"})
RANGE_KEYS = frozenset({"gt", "gte", "lt", "lte"})


class CriteriaError(ValueError):
    """The criteria body is invalid. ``code`` is Shopware's error code."""

    def __init__(self, detail: str, code: str = "FRAMEWORK__INVALID_CRITERIA_IDS"):
        super().__init__(detail)
        self.code = code


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _comparable(value: Any) -> Any:
    """Dates compare as datetimes, everything else as is."""
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if parsed.tzinfo is None:  # Shopware stores UTC
            from datetime import UTC

            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    return value


def validate_filter(spec: Any) -> None:
    """Raise :class:`CriteriaError` for a filter the DAL would refuse."""
    if not isinstance(spec, dict) or spec.get("type") not in FILTER_TYPES:
        raise CriteriaError(f"Unknown filter {spec!r}", "FRAMEWORK__INVALID_FILTER_QUERY")
    kind = spec["type"]
    if kind in ("multi", "not"):
        queries = spec.get("queries")
        if not isinstance(queries, list):
            raise CriteriaError(f"Filter {kind} needs a list of queries", "FRAMEWORK__INVALID_FILTER_QUERY")
        if str(spec.get("operator", "and")).lower() not in ("and", "or", "xor"):
            raise CriteriaError("Filter operator must be AND, OR or XOR", "FRAMEWORK__INVALID_FILTER_QUERY")
        for query in queries:
            validate_filter(query)
        return
    if not isinstance(spec.get("field"), str) or not spec["field"]:
        raise CriteriaError(f"Filter {kind} needs a field", "FRAMEWORK__INVALID_FILTER_QUERY")
    if kind == "range":
        params = spec.get("parameters")
        if not isinstance(params, dict) or not params or set(params) - RANGE_KEYS:
            raise CriteriaError("Range filter parameters must be gt, gte, lt or lte", "FRAMEWORK__INVALID_FILTER_QUERY")
    elif kind == "equalsAny":
        if not isinstance(spec.get("value"), list | str):
            raise CriteriaError("equalsAny needs a list value", "FRAMEWORK__INVALID_FILTER_QUERY")
    elif "value" not in spec:
        raise CriteriaError(f"Filter {kind} needs a value", "FRAMEWORK__INVALID_FILTER_QUERY")


def matches(spec: dict[str, Any], record: Any, resolve: Resolver) -> bool:
    """Whether ``record`` passes the filter ``spec`` (already validated)."""
    kind = spec["type"]
    if kind in ("multi", "not"):
        results = [matches(q, record, resolve) for q in spec["queries"]]
        operator = str(spec.get("operator", "and")).lower()
        if operator == "or":
            combined = any(results)
        elif operator == "xor":
            combined = sum(results) == 1
        else:
            combined = all(results)
        return not combined if kind == "not" else combined
    values = _values(resolve(record, spec["field"]))
    if kind == "equals":
        wanted = spec["value"]
        return any(v == wanted or (v is not None and wanted is not None and str(v) == str(wanted)) for v in values)
    if kind == "equalsAny":
        raw = spec["value"]
        wanted = set(raw.split("|") if isinstance(raw, str) else (str(w) for w in raw))
        return any(v is not None and str(v) in wanted for v in values)
    if kind in ("contains", "prefix", "suffix"):
        needle = str(spec["value"]).lower()
        for v in values:
            if v is None:
                continue
            text = str(v).lower()
            if (
                (kind == "contains" and needle in text)
                or (kind == "prefix" and text.startswith(needle))
                or (kind == "suffix" and text.endswith(needle))
            ):
                return True
        return False
    # range
    params = {k: _comparable(v) for k, v in spec["parameters"].items()}
    for v in values:
        if v is None:
            continue
        value = _comparable(v)
        try:
            if (
                ("gt" in params and not value > params["gt"])
                or ("gte" in params and not value >= params["gte"])
                or ("lt" in params and not value < params["lt"])
                or ("lte" in params and not value <= params["lte"])
            ):
                continue
        except TypeError:
            continue
        return True
    return False


def page_window(body: dict[str, Any], max_limit: int) -> tuple[int, int | None]:
    """``(offset, limit)`` from ``page``/``limit``; ``limit`` is ``None`` when the criteria has none."""
    limit = body.get("limit")
    page = body.get("page", 1)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | str) or not str(limit).isdigit() or int(limit) < 1:
            raise CriteriaError(
                f"The limit parameter must be a positive integer, got {limit!r}", "FRAMEWORK__INVALID_LIMIT_QUERY"
            )
        limit = int(limit)
        if limit > max_limit:
            raise CriteriaError(
                f"The limit must be lower than or equal to {max_limit}, got {limit}", "FRAMEWORK__INVALID_LIMIT_QUERY"
            )
    if isinstance(page, bool) or not isinstance(page, int | str) or not str(page).isdigit() or int(page) < 1:
        raise CriteriaError(
            f"The page parameter must be a positive integer, got {page!r}", "FRAMEWORK__INVALID_PAGE_QUERY"
        )
    page = int(page)
    if limit is None:
        if page != 1:
            raise CriteriaError("A page needs a limit", "FRAMEWORK__INVALID_PAGE_QUERY")
        return 0, None
    return (page - 1) * limit, limit


def validate_sort(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """``[(field, descending), ...]`` from ``sort``."""
    raw = body.get("sort") or []
    if isinstance(raw, str):  # the GET form "-updatedAt,name"
        raw = [{"field": f.lstrip("-"), "order": "DESC" if f.startswith("-") else "ASC"} for f in raw.split(",") if f]
    if not isinstance(raw, list):
        raise CriteriaError("sort must be a list", "FRAMEWORK__INVALID_SORT_QUERY")
    result = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("field"), str):
            raise CriteriaError(f"Invalid sorting {item!r}", "FRAMEWORK__INVALID_SORT_QUERY")
        order = str(item.get("order", "ASC")).upper()
        if order not in ("ASC", "DESC"):
            raise CriteriaError(f"Invalid sort direction {order}", "FRAMEWORK__INVALID_SORT_QUERY")
        result.append((item["field"], order == "DESC"))
    return result


def sort_records(records: Iterable[Any], sort: list[tuple[str, bool]], resolve: Resolver) -> list[Any]:
    """Stable multi-key sort; ``None`` sorts first like MySQL's NULLs."""
    items = list(records)
    for field_name, descending in reversed(sort):

        def key(record: Any, f: str = field_name) -> tuple[int, Any]:
            value = resolve(record, f)
            if isinstance(value, list):
                value = value[0] if value else None
            return (0, "") if value is None else (1, _comparable(value))

        items.sort(key=key, reverse=descending)
    return items
