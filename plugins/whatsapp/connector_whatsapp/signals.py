"""WhatsApp account and consent signals (platform-changes-2026.md §2, §3.2): ``user_preferences`` (the customer
stopped or resumed marketing inside WhatsApp) and ``business_capability_update`` (the business portfolio's
messaging limit changed), parsed into canonical events; the messaging-limit field read from the Graph API."""

from __future__ import annotations

import logging
from typing import Any

from connector import model
from connector.errors import WebhookRejected
from connector.timestamps import epoch_or_none

log = logging.getLogger(__name__)

#: ``whatsapp_business_manager_messaging_limit`` and ``max_daily_conversations_per_business`` tiers -> unique users
#: per 24 h (0 = unlimited). ``TIER_50`` appears in the quality-update field's table.
TIERS = {"TIER_50": 50, "TIER_250": 250, "TIER_2K": 2000, "TIER_10K": 10000, "TIER_100K": 100000,
         "TIER_UNLIMITED": 0}  # fmt: skip
#: The purposes of ``user_preferences[].category`` we keep consent for.
CATEGORIES = {"marketing_messages": "marketing"}


def reach_limit_of(value: Any) -> int | None:
    """Unique users a limit value allows: a tier name (``TIER_2K``) or the integer of Meta's example (``2000``;
    ``-1`` unlimited); ``None`` for ``TIER_NOT_SET`` or anything unreadable."""
    if isinstance(value, str) and value.upper() in TIERS:
        return TIERS[value.upper()]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        try:
            number = int(value)
        except ValueError:
            return None
        return 0 if number < 0 else number
    return None


def parse_user_preferences(value: dict[str, Any], where: str) -> list[model.ConsentSignal]:
    """One :class:`~connector.model.ConsentSignal` per ``user_preferences[]`` entry of a known category."""
    entries = value.get("user_preferences")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise WebhookRejected(400, f"{where}.user_preferences must be a list of objects")
    contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
    signals: list[model.ConsentSignal] = []
    for i, entry in enumerate(entries):
        action = entry.get("value")
        if action not in ("stop", "resume"):
            raise WebhookRejected(400, f"{where}.user_preferences[{i}].value must be stop or resume")
        purpose = CATEGORIES.get(str(entry.get("category") or ""))
        if purpose is None:
            log.info("whatsapp user_preferences for category %r ignored", entry.get("category"))
            continue
        wa_id, user_id = entry.get("wa_id"), entry.get("user_id")
        if not wa_id and not user_id:
            raise WebhookRejected(400, f"{where}.user_preferences[{i}] has neither wa_id nor user_id")
        profile = next(
            (c.get("profile") or {} for c in contacts if (wa_id and c.get("wa_id") == wa_id) or
             (user_id and c.get("user_id") == user_id)),
            {},
        )  # fmt: skip
        contact = model.Contact(
            channel="whatsapp",
            channel_user_id=str(wa_id or user_id),
            phone=f"+{wa_id}" if wa_id else None,
            name=str(profile.get("name") or "") if isinstance(profile, dict) else "",
        )
        signals.append(
            model.ConsentSignal(
                contact=contact,
                action=str(action),
                purpose=purpose,
                detail=str(entry.get("detail") or ""),
                timestamp=epoch_or_none(entry.get("timestamp"), where="whatsapp user_preferences timestamp"),
                proof={"field": "user_preferences", "value": entry},
            )
        )
    return signals


def parse_capability_update(value: dict[str, Any]) -> list[model.MessagingLimitSignal]:
    """The portfolio's new messaging limit from a ``business_capability_update`` or a ``phone_number_quality_update``
    (its 2026 field ``max_daily_conversations_per_business``; the deprecated per-phone ``current_limit`` is no
    portfolio limit and is not read); none when it names none (``TIER_NOT_SET``)."""
    raw = value.get("max_daily_conversations_per_business")
    limit = reach_limit_of(raw)
    if limit is None:
        log.info("whatsapp limit update without a readable portfolio limit: %r", value)
        return []
    return [model.MessagingLimitSignal(reach_limit=limit, raw=str(raw))]
