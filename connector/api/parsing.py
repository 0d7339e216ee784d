"""The admin API's request parsing: flask-smorest's, with :mod:`connector.safejson` for JSON bodies.

webargs parses bodies with the standard ``json.loads``: a body nested a few thousand levels deep raised
``RecursionError`` (a 500), and a ``"\\ud800"`` in a name reached the database, which cannot store it.
"""

from __future__ import annotations

import json
from typing import Any

import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from connector import safejson


class SafeParser(FlaskParser):
    """Reads JSON bodies with the nesting limit and lone surrogates replaced; too deep is invalid JSON (400)."""

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        try:
            return safejson.loads(data)
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # too deep, or not UTF-8
            raise json.JSONDecodeError(str(exc), doc="-", pos=0) from None


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint parsing arguments with :class:`SafeParser`."""

    ARGUMENTS_PARSER = SafeParser()
