"""WordPress REST list conventions: ``page``/``per_page``/``offset``, ``X-WP-Total*`` and ``Link`` headers, dates."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from .store import invalid_param

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, with the headers WordPress sends alongside."""

    items: Sequence[Any]
    headers: dict[str, str]


def _int(args: Mapping[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_param(name, f"{name} is not of type integer.") from None


def paginate(items: Sequence[T], args: Mapping[str, str], url: str, *, default: int, maximum: int) -> Page:
    """Slice ``items`` as WordPress does; ``per_page`` outside 1..maximum and ``page`` < 1 are 400s."""
    per_page = _int(args, "per_page", default)
    if not 1 <= per_page <= maximum:
        raise invalid_param("per_page", f"per_page must be between 1 (inclusive) and {maximum} (inclusive)")
    page = _int(args, "page", 1)
    if page < 1:
        raise invalid_param("page", "page must be greater than or equal to 1")
    offset = _int(args, "offset", (page - 1) * per_page)
    total = len(items)
    total_pages = math.ceil(total / per_page) if total else 0
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}
    links = []
    query = {k: v for k, v in args.items() if k not in ("page", "consumer_key", "consumer_secret")}
    if page > 1 and total_pages:
        links.append(f'<{url}?{urlencode({**query, "page": min(page - 1, total_pages)})}>; rel="prev"')
    if page < total_pages:
        links.append(f'<{url}?{urlencode({**query, "page": page + 1})}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return Page(items=items[offset : offset + per_page], headers=headers)


def date_arg(args: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 filter value. The sandbox site runs on UTC, so ``dates_are_gmt`` changes nothing."""
    raw = args.get(name)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_param(name, f"{name} is not a valid date.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def ids_arg(args: Mapping[str, str], name: str) -> list[int] | None:
    raw = args.get(name)
    if not raw:
        return None
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise invalid_param(name, f"{name}[0] is not of type integer.") from None


def choice_arg(args: Mapping[str, str], name: str, choices: Sequence[str], default: str) -> str:
    value = args.get(name) or default
    if value not in choices:
        raise invalid_param(name, f"{name} is not one of {', '.join(choices)}.")
    return value


def fields_mask(args: Mapping[str, str]) -> dict[str, Any] | None:
    """WordPress's global ``_fields`` parameter (``id,name,images.src``) as a nested mask; None when absent."""
    raw = args.get("_fields")
    if not raw:
        return None
    mask: dict[str, Any] = {}
    for path in (part.strip() for part in raw.split(",")):
        node = mask
        keys = [k for k in path.split(".") if k]
        for n, key in enumerate(keys):
            if node.get(key) is True:
                break  # the whole field is already wanted
            if n == len(keys) - 1:
                node[key] = True
            else:
                node = node.setdefault(key, {})
    return mask


def only_fields(value: Any, mask: Mapping[str, Any]) -> Any:
    """``value`` cut down to the fields of ``mask`` (``rest_filter_response_fields``); lists are cut item by item."""
    if isinstance(value, list):
        return [only_fields(item, mask) for item in value]
    if not isinstance(value, Mapping):
        return value
    return {k: v if mask[k] is True else only_fields(v, mask[k]) for k, v in value.items() if k in mask}
