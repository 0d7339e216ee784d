"""A pybabel extractor (``babel.cfg``): Babel's own Python extractor, plus the ``help=`` text of every
``ConfigField(...)`` (a plugin setting's explanation under its field), which no keyword spec can reach."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

from babel.messages.extract import extract_python


def extract_python_and_field_help(
    fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str], options: Any
) -> Iterator[tuple[Any, ...]]:
    """Everything :func:`babel.messages.extract.extract_python` finds, then each literal ``help="..."`` of a
    ``ConfigField`` call (a help text built at run time, an f-string, stays untranslated)."""
    source = fileobj.read()
    fileobj.seek(0)
    yield from extract_python(fileobj, keywords, comment_tags, options)
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name != "ConfigField":
            continue
        for keyword in node.keywords:
            if (
                keyword.arg == "help"
                and isinstance(keyword.value, ast.Constant)
                and isinstance(keyword.value.value, str)
            ):
                yield keyword.value.lineno, "_", keyword.value.value, []
