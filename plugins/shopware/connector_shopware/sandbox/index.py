"""Indexes that let the sandbox answer product searches without scanning the catalog, like a database would.

:class:`ProductIndex` narrows a search to *candidates*: a superset of the products the filters can match,
found from an index by ``createdAt``/``updatedAt`` (bisect over ``(value, id)`` pairs), from ``id`` and
``parentId`` lookups, and through ``parent.`` paths. The criteria are still evaluated on every candidate
(:func:`~connector_shopware.sandbox.criteria.matches`), so an index only saves work and never changes
a result. Whenever a filter is not understood, or evaluating it on a skipped product could have raised
an error, there are no candidates (``None``) and the caller scans everything, as before.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime
from operator import itemgetter
from typing import Any

from connector_shopware.sandbox.criteria import _comparable

#: Fields with a sorted index.
DATE_FIELDS = ("createdAt", "updatedAt")
#: Dotted product fields the resolver answers for every record without raising.
DOTTED_FIELDS = frozenset({"options.id", "price.gross", "price.net"})

_first = itemgetter(0)


class ProductIndex:
    """Secondary indexes over ``products`` (a dict of id -> record). Callers hold the store's lock.

    ``dates[field]`` is a sorted list of ``(value, id)`` for records whose own value is not null; it is
    built after seeding (or on first use) and then kept up to date by :meth:`set_date`, :meth:`add` and :meth:`remove`.
    """

    def __init__(self, products: dict[str, dict[str, Any]], children: dict[str, list[str]], sorted_ids: list[str]):
        self.products = products
        self.children = children
        self.sorted_ids = sorted_ids  # walked in id order, equal dates (a seeded catalog's) are sorted already
        self.keys: frozenset[str] | None = None  # fields every record has
        self.position: dict[str, int] = {}  # insertion order, the order of an unsorted search
        self._next_position = 0
        self.dates: dict[str, list[tuple[datetime, str]] | None] = dict.fromkeys(DATE_FIELDS)

    # ------------------------------------------------------------------ maintenance

    def add(self, record: dict[str, Any]) -> None:
        keys = frozenset(record)
        self.keys = keys if self.keys is None else self.keys & keys
        self.position[record["id"]] = self._next_position
        self._next_position += 1
        for field in DATE_FIELDS:
            self._put(field, record.get(field), record["id"])

    def remove(self, record: dict[str, Any]) -> None:
        self.position.pop(record["id"], None)
        for field in DATE_FIELDS:
            self._drop(field, record.get(field), record["id"])

    def set_date(self, record: dict[str, Any], field: str, value: datetime | None) -> None:
        """Set ``record[field]`` and move the record in that field's index."""
        old = record.get(field)
        record[field] = value
        pairs = self.dates[field]
        if pairs is None or old == value:
            return
        self._drop(field, old, record["id"])
        self._put(field, value, record["id"])

    def _put(self, field: str, value: Any, record_id: str) -> None:
        pairs = self.dates[field]
        if pairs is None or value is None:
            return
        entry = (value, record_id)
        try:
            if not pairs or pairs[-1] < entry:  # the usual case: "now" is the newest value
                pairs.append(entry)
            else:
                bisect.insort(pairs, entry)
        except TypeError:  # not comparable (not a datetime): forget the index; searches then scan
            self.dates[field] = None

    def _drop(self, field: str, value: Any, record_id: str) -> None:
        pairs = self.dates[field]
        if pairs is None or value is None:
            return
        try:
            at = bisect.bisect_left(pairs, (value, record_id))
            found = at < len(pairs) and pairs[at] == (value, record_id)
        except TypeError:
            found = False
        if found:
            del pairs[at]
        else:  # not where it should be (changed behind our back): forget the index, it is rebuilt on use
            self.dates[field] = None

    def build(self) -> None:
        """Build the date indexes now (after seeding) rather than on the first search that needs them."""
        for field in DATE_FIELDS:
            self._pairs(field)

    def _pairs(self, field: str) -> list[tuple[datetime, str]]:
        pairs = self.dates[field]
        if pairs is None:
            products = self.products
            pairs = sorted((value, i) for i in self.sorted_ids if (value := products[i].get(field)) is not None)
            self.dates[field] = pairs
        return pairs

    # ------------------------------------------------------------------ lookups

    def candidates(self, filters: Any, ids: Any) -> set[str] | None:
        """Ids of a superset of the products matching ``filters`` (ANDed) and ``ids``, or ``None`` for all."""
        try:
            if not isinstance(filters, list) or not all(self._safe_tree(spec) for spec in filters):
                return None
            result: set[str] | None = None
            if ids is not None:
                if not isinstance(ids, str | list) or not all(isinstance(i, str) for i in ids):
                    return None
                result = set(ids.split("|") if isinstance(ids, str) else ids)
            for spec in filters:
                found = self._candidates(spec)
                if found is not None:
                    result = found if result is None else result & found
            return result
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def _safe_tree(self, spec: Any) -> bool:
        """Every field in the filter resolves on every product without an error (so skipping one is safe)."""
        if not isinstance(spec, dict):
            return False
        if spec.get("type") in ("multi", "not"):
            queries = spec.get("queries")
            return isinstance(queries, list) and all(self._safe_tree(q) for q in queries)
        field = spec.get("field")
        return isinstance(field, str) and self._safe_field(field)

    def _safe_field(self, field: str) -> bool:
        if field.startswith("product."):
            field = field[8:]
        if field.startswith("parent."):
            return self._safe_field(field[7:])
        if field.startswith("children."):
            return self._safe_field(field[9:])
        if field in DOTTED_FIELDS:
            return True
        return "." not in field and self.keys is not None and field in self.keys

    def _candidates(self, spec: dict[str, Any]) -> set[str] | None:
        kind = spec["type"]
        if kind == "multi":
            queries = spec["queries"]
            operator = str(spec.get("operator", "and")).lower()
            if not queries or operator not in ("and", "or"):
                return None
            parts = [self._candidates(q) for q in queries]
            if operator == "or":
                if any(p is None for p in parts):
                    return None
                return set().union(*parts)  # type: ignore[arg-type]
            known = [p for p in parts if p is not None]
            if not known:
                return None
            return set.intersection(*known)
        if kind not in ("range", "equals", "equalsAny"):
            return None
        return self._field_candidates(spec["field"], spec)

    def _field_candidates(self, field: str, spec: dict[str, Any]) -> set[str] | None:
        if field.startswith("product."):
            field = field[8:]
        if field.startswith("parent."):
            # The parent's value: children of the products whose own (inherited) value can match.
            parents = self._field_candidates(field[7:], spec)
            return None if parents is None else self._children_of(parents)
        kind = spec["type"]
        if kind == "range" and field in DATE_FIELDS:
            found = self._date_range(field, spec["parameters"])
            # A variant without a value of its own resolves to its parent's.
            return None if found is None else found | self._children_of(found)
        if kind in ("equals", "equalsAny") and field in ("id", "parentId"):
            wanted = self._wanted(spec)
            if wanted is None:
                return None
            if field == "id":
                return {w for w in wanted if w in self.products}
            return self._children_of(wanted)
        return None

    @staticmethod
    def _wanted(spec: dict[str, Any]) -> set[str] | None:
        if spec["type"] == "equals":
            value = spec["value"]
            # null matches the records without a value: not an index lookup.
            return None if value is None else {str(value)}
        raw = spec["value"]
        return set(raw.split("|") if isinstance(raw, str) else (str(w) for w in raw))

    def _date_range(self, field: str, parameters: dict[str, Any]) -> set[str] | None:
        bounds = {k: _comparable(v) for k, v in parameters.items()}
        if not all(isinstance(b, datetime) and b.tzinfo is not None for b in bounds.values()):
            return None
        lows = [bounds[k] for k in ("gt", "gte") if k in bounds]
        highs = [bounds[k] for k in ("lt", "lte") if k in bounds]
        pairs = self._pairs(field)
        start = bisect.bisect_left(pairs, max(lows), key=_first) if lows else 0
        end = bisect.bisect_right(pairs, min(highs), key=_first) if highs else len(pairs)
        return {pairs[i][1] for i in range(start, end)}

    def _children_of(self, ids: Iterable[str]) -> set[str]:
        children = self.children
        return {c for i in ids for c in children.get(i, ())}

    def ordered(self, ids: set[str], *, by_id: bool) -> list[dict[str, Any]]:
        """The candidate records in id order, or in insertion order (what an unsorted search walks)."""
        present = [i for i in ids if i in self.products]
        present.sort(key=None if by_id else self.position.__getitem__)
        return [self.products[i] for i in present]
