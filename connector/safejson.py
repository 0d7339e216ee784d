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
        value = json.loads(data)
        if _plain(data, max_depth):
            return value  # nothing to replace, not too deep: no need to walk (and copy) the whole document
        return _clean(value, max_depth)
    except (RecursionError, _TooDeep):
        raise UnsafeJSON(f"JSON nested deeper than {max_depth} levels") from None


#: A JSON string literal (in a document that parsed: outside them no ``"`` occurs).
_STRING_LITERAL = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: An escape that may stand for a surrogate (``\ud800``-``\udfff``).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: Brackets of either kind as ``(``/``)``; everything else (outside strings: numbers, literals, ``,:``) deleted.
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[{]}"))


def _plain(data: bytes | str, max_depth: int) -> bool:
    """Whether the UTF-8 document ``data`` (which parsed) can hold no lone surrogate and nests at most
    ``max_depth`` deep, found on the bytes (C speed): what :func:`_clean` would otherwise find by walking the parsed
    value. ``False`` (walk it) when unsure."""
    if not isinstance(data, bytes | bytearray) or json.detect_encoding(data) != "utf-8":
        return False
    if _SURROGATE_ESCAPE.search(data):
        return False
    brackets = _STRING_LITERAL.sub(b"", data).translate(_BRACKETS, _NOT_BRACKETS)
    if len(brackets) <= 2 * max_depth:
        return True
    # Remove the innermost pairs, one level per pass: still brackets left after max_depth passes is too deep.
    for _ in range(max_depth):
        brackets = brackets.replace(b"()", b"")
        if not brackets:
            return True
    return False


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
