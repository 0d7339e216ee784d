"""URL converters: ``<int:...>`` in every route is a database id, so it is bounded to a signed 64-bit integer.

Werkzeug's own ``int`` converter accepts any number of digits; ``/webhooks/shopify/99999999999999999999`` then
reached the database driver, which cannot bind it (``OverflowError``: a 500 on an unauthenticated route). Bounded
here, such a URL matches no route: a 404 like any other unknown id.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, ValidationError

#: The largest id a ``BIGINT`` column (and SQLite's ``INTEGER``) holds.
INT64_MAX = 2**63 - 1


class Int64Converter(IntegerConverter):
    """Werkzeug's ``int`` limited to 19 digits and :data:`INT64_MAX` (``min``/``max`` arguments still apply)."""

    regex = r"\d{1,19}"

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        if number > INT64_MAX:
            raise ValidationError()
        return number


def install(app: Flask) -> None:
    """Make ``<int:...>`` bounded in every route of ``app``; call before any blueprint is registered."""
    app.url_map.converters["int"] = Int64Converter
