"""JSON from outside (webhook bodies, API requests), parsed with the limits everything after it relies on.

:func:`loads` refuses nesting deeper than :data:`MAX_DEPTH` (``json.loads`` would recurse until a
``RecursionError``, and so would every function that walks the result) and replaces lone surrogates
(``"\\ud800"`` is valid JSON, but no UTF-8 database, log or HTTP request can carry it) with U+FFFD, so a
string that was accepted can always be stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper than any platform's payload (Shopify's orders reach about 6 levels, Meta's about 8).
MAX_DEPTH = 64

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class UnsafeJSON(ValueError):
    """The document is valid JSON but beyond what the connector accepts (too deeply nested)."""


class _TooDeep(Exception):
    pass


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data``; raise ``ValueError`` (:class:`json.JSONDecodeError`, :class:`UnicodeDecodeError` or
    :class:`UnsafeJSON`) when it is not JSON or nests deeper than ``max_depth``. Strings come back free of lone
    surrogates."""
    try:
        return _clean(json.loads(data), max_depth)
    except (RecursionError, _TooDeep):
        raise UnsafeJSON(f"JSON nested deeper than {max_depth} levels") from None


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (a no-op for ordinary text)."""
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def _clean(value: Any, depth_left: int) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict | list):
        if depth_left <= 0:
            raise _TooDeep
        if isinstance(value, list):
            return [_clean(item, depth_left - 1) for item in value]
        return {clean_text(key): _clean(item, depth_left - 1) for key, item in value.items()}
    return value
