"""Turning canonical dataclasses into JSON and back, for the database and the task queue.

Values are tagged with their class name (``{"__type__": "ButtonsMessage", ...}``) so a stored
outbound message or inbound event comes back as the same dataclass. Decimals travel as strings,
datetimes as ISO 8601, enums as their values.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import typing
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from connector import model

_TYPES: dict[str, type] = {
    name: obj for name, obj in vars(model).items() if isinstance(obj, type) and dataclasses.is_dataclass(obj)
}


def to_json(value: Any) -> Any:
    """A JSON-compatible structure for a canonical value (dataclass, list, dict, Decimal, datetime, enum)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        data["__type__"] = type(value).__name__
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
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


def _convert(value: Any, hint: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict) and "__type__" in value:
        return from_json(value)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg)
            except (TypeError, ValueError):
                continue
        return value
    if origin is list:
        return [_convert(v, args[0]) for v in value]
    if origin is dict:
        return {k: _convert(v, args[1]) for k, v in value.items()}
    if hint is Decimal:
        return Decimal(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    return value


def from_json(data: dict[str, Any]) -> Any:
    """Rebuild the dataclass that :func:`to_json` produced."""
    cls = _TYPES[data["__type__"]]
    hints = _hints(cls)
    kwargs = {f.name: _convert(data[f.name], hints[f.name]) for f in dataclasses.fields(cls) if f.name in data}
    return cls(**kwargs)


def content_hash(value: Any) -> str:
    """A stable SHA-256 of a canonical value: equal content, equal hash."""
    encoded = json.dumps(to_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()
