"""Shopify's search syntax for the ``query:`` argument: ``updated_at:>'2025-01-01T00:00:00Z' tag:x OR tag:y``.

Supported: terms joined by whitespace (AND) or ``OR``, ``-`` negation, ``key:value`` with the
comparators ``> >= < <=``, single or double quotes, and free-text terms (``shirt``, ``shirt*``) matched
against the words of the resource's default fields. Each connection declares which keys it knows;
an unknown key is an error that names it (Shopify would ignore it and warn, which hides bugs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector_shopify.sandbox.executor import ExecutionError

_VALUE = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s()]+)"""
#: ``key:value`` | ``OR``/``AND`` | a free-text term (Shopify searches the resource's default fields for it).
_TOKEN = re.compile(rf"\s*(-?)([A-Za-z_]+):(>=|<=|>|<)?{_VALUE}|\s*(OR|AND)\b|\s*(-?){_VALUE}")
#: The key of a free-text term; a resource supports free text when its fields map this key to its text.
TEXT = "default"
#: Keys whose value is a comma-separated list, any of which matches (``product_ids:1,2,3``).
LIST_KEYS = frozenset({"product_ids"})

Getter = Callable[[dict[str, Any]], Any]
#: Numeric ids of the records a term matches, from an index; ``None`` when the index cannot answer the term.
Index = Callable[["Term"], Iterable[int] | None]


@dataclass(frozen=True, slots=True)
class Term:
    negate: bool
    key: str
    op: str
    value: str


def parse(query: str | None) -> list[list[Term]]:
    """Parse into AND-of-ORs: ``[[a, b], [c]]`` means ``(a OR b) AND c``."""
    if not query or not query.strip():
        return []
    clauses: list[list[Term]] = []
    pending_or = False
    pos = 0
    text = query.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExecutionError(
                f"Unsupported search syntax near {text[pos : pos + 30]!r} in query {query!r}", "INVALID"
            )
        pos = m.end()
        if m[5]:
            pending_or = m[5] == "OR"
            continue
        value = m[4] if m[2] else m[7]
        if value[:1] in "'\"" and value[-1:] == value[:1]:
            value = value[1:-1]
        keyed = bool(m[2])
        term = Term(bool(m[1]), m[2].lower(), m[3] or "=", value) if keyed else Term(bool(m[6]), TEXT, "~", value)
        if pending_or and clauses:
            clauses[-1].append(term)
        else:
            clauses.append([term])
        pending_or = False
    return clauses


def _to_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ExecutionError(f"Invalid date in search query: {value!r}", "INVALID") from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _text_match(actual: Any, wanted: str) -> bool:
    """Free text: every word of ``wanted`` is a word of ``actual`` (``shirt*`` is a prefix), case-insensitive."""
    texts = actual if isinstance(actual, list) else [actual]
    words = {w for t in texts if t for w in _words(str(t))}
    prefix = wanted.endswith("*")
    wanted_words = _words(wanted)
    if not wanted_words:
        return False
    *whole, last = wanted_words
    return all(w in words for w in whole) and (any(w.startswith(last) for w in words) if prefix else last in words)


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if op == "~":
        return _text_match(actual, wanted)
    if actual is None:
        return False
    if isinstance(actual, list):
        return any(_compare(a, op, wanted) for a in actual)
    if isinstance(actual, datetime):
        target: Any = _to_datetime(wanted)
    elif isinstance(actual, int):
        try:
            target = int(wanted)
        except ValueError:
            return False
    else:
        actual, target = str(actual).lower(), wanted.lower()
    return {
        "=": actual == target,
        ">": actual > target,
        ">=": actual >= target,
        "<": actual < target,
        "<=": actual <= target,
    }[op]


def matcher(query: str | None, fields: dict[str, Getter], resource: str) -> Callable[[dict[str, Any]], bool] | None:
    """A predicate for ``query`` over one resource's records, or ``None`` when the query is empty."""
    clauses = parse(query)
    if not clauses:
        return None
    for clause in clauses:
        for term in clause:
            if term.key not in fields:
                if term.key == TEXT:
                    raise ExecutionError(
                        f"The Shopify sandbox does not support free-text search on {resource} "
                        f"(use one of: {', '.join(sorted(fields))})",
                        "SANDBOX_UNSUPPORTED",
                    )
                known = ", ".join(sorted(k for k in fields if k != TEXT))
                raise ExecutionError(
                    f"The Shopify sandbox does not support the search field '{term.key}' on {resource} "
                    f"(supported: {known})",
                    "SANDBOX_UNSUPPORTED",
                )

    def holds(term: Term, record: dict[str, Any]) -> bool:
        actual = fields[term.key](record)
        if term.key in LIST_KEYS:
            return any(_compare(actual, term.op, value.strip()) for value in term.value.split(","))
        return _compare(actual, term.op, term.value)

    def match(record: dict[str, Any]) -> bool:
        return all(any(holds(t, record) != t.negate for t in clause) for clause in clauses)

    return match


def candidates(query: str | None, indexes: dict[str, Index]) -> set[int] | None:
    """The ids an index lookup narrows ``query`` to, or ``None`` when it needs a scan.

    Shopify answers searches from a search index, so an ``updated_at:>X`` or ``id:1 OR id:2`` search costs
    the matches, not the catalog. A clause whose every term has an index gives a candidate set (the union of
    its terms); the smallest such clause wins. The caller still applies the full predicate to the candidates.
    """
    best: set[int] | None = None
    for clause in parse(query):
        found: set[int] = set()
        for term in clause:
            index = None if term.negate else indexes.get(term.key)
            ids = index(term) if index is not None else None
            if ids is None:
                break
            found.update(ids)
        else:
            if best is None or len(found) < len(best):
                best = found
    return best


def timestamp(term: Term) -> datetime:
    """The moment a date term (``updated_at:>'2026-12-01T10:00:00Z'``) names."""
    return _to_datetime(term.value)
