"""Flask's JSON provider with :mod:`connector.safejson`'s limits on what requests send (``request.get_json``)."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

from connector import safejson


class SafeJSONProvider(DefaultJSONProvider):
    """Parses request bodies with the nesting limit and lone-surrogate cleaning; serialises as Flask does.

    A body nested too deeply raises ``ValueError``, which ``request.get_json`` turns into a 400 (or ``None``
    with ``silent=True``) like any other malformed JSON."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return safejson.loads(s)
