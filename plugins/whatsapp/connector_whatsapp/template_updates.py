"""``template_category_update`` webhooks (Meta re-categorized a template) -> canonical
:class:`~connector.model.TemplateCategoryUpdate` events (platform-changes-2026.md §1.3).

Two shapes: the *impending* notice, about 24 hours before (``new_category`` = today's category,
``correct_category`` = the coming one, ``category_update_timestamp`` = when), and the *completed* notice
(``previous_category``, ``new_category``), effective when Meta sent it (the entry's ``time``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector import model
from connector.errors import WebhookRejected
from connector.timestamps import epoch_or_none

FIELD = "template_category_update"


def parse_category_update(value: dict[str, Any], entry: dict[str, Any], where: str) -> model.TemplateCategoryUpdate:
    """One change's ``value``; ``WebhookRejected(400)`` when it lacks what names the template or its category."""
    template_id = value.get("message_template_id")
    if isinstance(template_id, bool) or not isinstance(template_id, int | str) or str(template_id) == "":
        raise WebhookRejected(400, f"{where}.message_template_id is required")
    name = _text(value, "message_template_name", where)
    language = _text(value, "message_template_language", where)
    if "correct_category" in value:
        category = _text(value, "correct_category", where)
        effective = epoch_or_none(value.get("category_update_timestamp"), where=f"{where}.category_update_timestamp")
        if effective is None:
            raise WebhookRejected(400, f"{where}.category_update_timestamp must be epoch seconds")
        previous = value.get("new_category")
        impending = True
    else:
        category = _text(value, "new_category", where)
        previous = value.get("previous_category")
        effective = epoch_or_none(entry.get("time"), where=f"{where} entry time") or datetime.now(UTC)
        impending = False
    return model.TemplateCategoryUpdate(
        template_id=str(template_id),
        name=name,
        language=language,
        category=category.lower(),
        previous_category=str(previous).lower() if isinstance(previous, str) and previous else None,
        effective_at=effective,
        impending=impending,
    )


def _text(value: dict[str, Any], key: str, where: str) -> str:
    found = value.get(key)
    if not isinstance(found, str) or not found.strip() or len(found) > 512:
        raise WebhookRejected(400, f"{where}.{key} must be a non-empty string")
    return found.strip()
