"""Turning canonical dataclasses into JSON and back, for the database and the task queue.

Values are tagged with their class name (``{"__type__": "ButtonsMessage", ...}``) so a stored
outbound message or inbound event comes back as the same dataclass. Decimals travel as strings,
datetimes as ISO 8601, enums as their values.

This runs for every variant of every sync (100,000 of them in a big catalog), so converters are
built once per class from its type hints and cached.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import types
import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from connector import model

_TYPES: dict[str, type] = {
    name: obj for name, obj in vars(model).items() if isinstance(obj, type) and dataclasses.is_dataclass(obj)
}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_json(value: Any) -> Any:
    """A JSON-compatible structure for a canonical value (dataclass, list, dict, Decimal, datetime, enum)."""
    if value is None or (isinstance(value, str | int | float | bool) and not isinstance(value, enum.Enum)):
        return value
    cls = type(value)
    if cls.__name__ in _TYPES and _TYPES[cls.__name__] is cls:
        data = {name: to_json(getattr(value, name)) for name in _field_names(cls)}
        data["__type__"] = cls.__name__
        return data
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        raise TypeError(f"{cls.__name__} is not a canonical model type")
    return value


Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


@cache
def _converter(hint: Any) -> Converter:
    """A function turning JSON back into a value of type ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [_converter(a) for a in args if a is not type(None)]
        if len(options) == 1:
            only = options[0]
            return lambda v: None if v is None else only(v)

        def first_that_fits(value: Any) -> Any:
            if value is None:
                return None
            for option in options:
                try:
                    return option(value)
                except (TypeError, ValueError, KeyError):
                    continue
            return value

        return first_that_fits
    if origin is list:
        item = _converter(args[0]) if args else _identity
        return lambda v: [item(x) for x in v]
    if origin is dict:
        item = _converter(args[1]) if len(args) == 2 else _identity
        return lambda v: {k: item(x) for k, x in v.items()}
    if hint is Decimal:
        return Decimal
    if hint is datetime:
        return datetime.fromisoformat
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda v: from_json(v) if isinstance(v, dict) else v
    return _identity


@cache
def _fields_of(cls: type) -> tuple[tuple[str, Converter], ...]:
    hints = typing.get_type_hints(cls, vars(model))
    return tuple((name, _converter(hints[name])) for name in _field_names(cls))


def from_json(data: dict[str, Any]) -> Any:
    """Rebuild the dataclass that :func:`to_json` produced."""
    cls = _TYPES[data["__type__"]]
    kwargs = {}
    for name, convert in _fields_of(cls):
        if name in data:
            value = data[name]
            kwargs[name] = None if value is None else convert(value)
    return cls(**kwargs)


def json_hash(data: Any) -> str:
    """A stable SHA-256 of a JSON-compatible structure."""
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def content_hash(value: Any) -> str:
    """A stable SHA-256 of a canonical value: equal content, equal hash."""
    return json_hash(to_json(value))
