"""Spot misspelled ``CONNECTOR_*`` environment variables: pydantic ignores names it does not know, so a typo
(``CONNECTOR_DATABSE__URL``) would silently leave the default in place."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping

from pydantic import BaseModel

from connector.config import ENV_CONFIG_PATH, ENV_PREFIX, Config

#: Variables read outside the config model.
OTHER_VARIABLES = (ENV_CONFIG_PATH, "CONNECTOR_TRACE_PLUGINS", "CONNECTOR_HTTP_BACKOFF_SCALE", "CONNECTOR_SCREENSHOTS")
#: Prefixes under which any name is valid: plugins' own settings tables, and the test suite's switches.
OPEN_PREFIXES = (f"{ENV_PREFIX}PLUGINS__", f"{ENV_PREFIX}TEST_")


def _names(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        if name == "path" and model is Config:
            continue
        full = f"{prefix}{name.upper()}"
        yield full
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _names(annotation, f"{full}__")


def valid_names() -> list[str]:
    """Every environment variable the connector reads (config keys as ``CONNECTOR_SECTION__KEY``)."""
    return sorted({*_names(Config, ENV_PREFIX), *OTHER_VARIABLES})


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """Each set ``CONNECTOR_*`` variable that no setting reads, with the closest valid name (or ``None``)."""
    env = os.environ if environ is None else environ
    known = valid_names()
    found = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(OPEN_PREFIXES):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.6)
        found.append((name, close[0] if close else None))
    return found
