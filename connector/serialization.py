"""Turning canonical dataclasses into JSON and back, for the database and the task queue.

Values are tagged with their class name (``{"__type__": "ButtonsMessage", ...}``) so a stored
outbound message or inbound event comes back as the same dataclass. Decimals travel as strings,
datetimes as ISO 8601, enums as their values.

This runs for every variant of every sync (100,000 of them in a big catalog), so converters are
built once per class from its type hints and cached.

Plugins store their own dataclasses too (a channel's outbound envelope, say): :func:`register_types` adds them,
with every dataclass reachable through their fields, under a qualified tag (``module:QualifiedName``) so two
plugins can never collide with each other or with :mod:`connector.model`. The core registers the
``outbound_types`` of every channel adapter class when it loads the plugins (:class:`connector.plugins.Plugins`),
so a process that can send a channel's messages can also read them back from the outbox.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import threading
import types
import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from connector import model

#: Tag -> class, and class -> tag. The canonical model's classes are tagged by their bare name (as stored so far).
_TYPES: dict[str, type] = {
    name: obj for name, obj in vars(model).items() if isinstance(obj, type) and dataclasses.is_dataclass(obj)
}
_TAGS: dict[type, str] = {cls: name for name, cls in _TYPES.items()}
_register_lock = threading.Lock()


def tag_of(cls: type) -> str:
    """The ``__type__`` tag a registered plugin class is stored under: ``module:QualifiedName``."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _nested_dataclasses(cls: type) -> list[type]:
    """Dataclasses named in the type hints of ``cls``'s fields (inside ``X | None``, ``tuple[X, ...]``...)."""
    found: list[type] = []

    def walk(hint: Any) -> None:
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            found.append(hint)
        for arg in typing.get_args(hint):
            walk(arg)

    for hint in _hints(cls).values():
        walk(hint)
    return found


def register_types(*classes: type) -> list[str]:
    """Let :func:`to_json` / :func:`from_json` round-trip these dataclasses (and the dataclasses in their fields).

    Enums in their fields need no registration: they are stored as their values and rebuilt from the type hint.
    Registering a class twice is harmless; returns the tags of the classes newly registered. Raises
    ``TypeError`` for something that is not a dataclass."""
    added: list[str] = []
    with _register_lock:
        pending = list(classes)
        while pending:
            cls = pending.pop()
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise TypeError(f"only dataclasses can be registered for serialization, got {cls!r}")
            if cls in _TAGS:
                continue
            tag = tag_of(cls)
            _TYPES[tag] = cls
            _TAGS[cls] = tag
            added.append(tag)
            pending.extend(_nested_dataclasses(cls))
    return added


def registered_types() -> dict[str, type]:
    """Every class :func:`from_json` can rebuild, by tag."""
    return dict(_TYPES)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_json(value: Any) -> Any:
    """A JSON-compatible structure for a canonical value (dataclass, list, dict, Decimal, datetime, enum)."""
    if value is None or (isinstance(value, str | int | float | bool) and not isinstance(value, enum.Enum)):
        return value
    cls: type = type(value)
    tag = _TAGS.get(cls)
    if tag is not None:
        data = {name: to_json(getattr(value, name)) for name in _field_names(cls)}
        data["__type__"] = tag
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
        raise TypeError(
            f"{cls.__name__} is not a canonical model type and was not registered "
            "(connector.serialization.register_types, or the channel adapter's outbound_types)"
        )
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
    if origin is tuple:
        # ``tuple[X, ...]`` (any length) or ``tuple[X, Y]`` (one converter per position); JSON stores a list.
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            each = _converter(args[0]) if args else _identity
            return lambda v: tuple(each(x) for x in v)
        positions = [_converter(a) for a in args]
        return lambda v: tuple(convert(x) for convert, x in zip(positions, v, strict=True))
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
        # A field typed since rows were stored holds an untagged dict in those rows; a class that can read them
        # says so with a ``from_untagged`` classmethod (``model.Referral``: the channel's object verbatim).
        untagged = getattr(hint, "from_untagged", None)

        def rebuild(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            if "__type__" not in value and untagged is not None:
                return untagged(value)
            return from_json(value)

        return rebuild
    return _identity


@cache
def _hints(cls: type) -> dict[str, Any]:
    # Each class's hints are resolved in the globals of the module that defined it (``get_type_hints`` walks the
    # MRO), so a plugin's ``tuple[ProductCard, ...]`` resolves in the plugin's module, the model's in the model's.
    return typing.get_type_hints(cls)


@cache
def _fields_of(cls: type) -> tuple[tuple[str, Converter], ...]:
    hints = _hints(cls)
    return tuple((name, _converter(hints[name])) for name in _field_names(cls))


def from_json(data: dict[str, Any]) -> Any:
    """Rebuild the dataclass that :func:`to_json` produced.

    Raises ``TypeError`` for a tag nobody registered (the plugin that stored it is not loaded)."""
    tag = data["__type__"]
    cls = _TYPES.get(tag)
    if cls is None:
        raise TypeError(f"cannot rebuild {tag!r}: no loaded plugin registered that type")
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
