"""The Marketing Messages API for WhatsApp (platform-changes-2026.md §3.3, §3.4): marketing templates go through
``POST /<PHONE_NUMBER_ID>/marketing_messages`` when the connection enables it and the WhatsApp Business Account
has signed Meta's terms (``GET /<WABA_ID>?fields=marketing_messages_onboarding_status`` says ``ONBOARDED``), with
``product_policy`` and the template's time-to-live (``message_send_ttl_seconds``, honoured only through this API)
set first, so an alert that could not be delivered in time is dropped by WhatsApp instead of arriving late.
Everything else, and every marketing template while the account is not onboarded, goes through ``/messages``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from connector_meta.graph import GraphClient

from connector import model
from connector.errors import PlatformError

log = logging.getLogger(__name__)

#: The onboarding status that lets the API send.
ONBOARDED = "ONBOARDED"
#: Seconds a read onboarding status or template category is trusted before it is read again.
CACHE_SECONDS = 600.0
#: Meta's bounds for a marketing template's time-to-live (12 hours to 30 days).
TTL_MIN, TTL_MAX = 43_200, 2_592_000


@dataclass(frozen=True, slots=True)
class MarketingSettings:
    """The connection's choices: use the API at all, its ``product_policy``, the templates' time-to-live."""

    enabled: bool
    product_policy: str
    ttl_seconds: int
    waba_id: str


class MarketingRoute:
    """Decides, per template send, whether it goes through ``/marketing_messages``; reads (and caches) the
    account's onboarding status and each template's category, and sets the templates' time-to-live."""

    def __init__(self, graph: GraphClient, settings: MarketingSettings):
        self.graph = graph
        self.settings = settings
        self._lock = threading.Lock()
        self._onboarded: tuple[float, bool] | None = None
        self._templates: dict[tuple[str, str], tuple[float, str]] = {}

    def applies(self, message: model.Outbound) -> bool:
        """True when ``message`` is a marketing template and the account may use the Marketing Messages API."""
        if not self.settings.enabled or not self.settings.waba_id or not isinstance(message, model.TemplateMessage):
            return False
        if not self.onboarded():
            return False
        return self._category(message.name, message.language) == "MARKETING"

    def extra_fields(self) -> dict[str, Any]:
        """What a ``/marketing_messages`` body adds to a template send (``product_policy`` has no documented
        default, so it is always sent)."""
        return {"product_policy": self.settings.product_policy}

    def onboarded(self) -> bool:
        """The account's ``marketing_messages_onboarding_status`` is ``ONBOARDED`` (read at most every 10 min)."""
        with self._lock:
            cached = self._onboarded
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            data = self.graph.get_json(self.settings.waba_id, params={"fields": "marketing_messages_onboarding_status"})
            status = str(data.get("marketing_messages_onboarding_status") or "")
        except PlatformError as exc:
            log.warning("could not read the Marketing Messages API onboarding status: %s", exc)
            status = ""
        onboarded = status == ONBOARDED
        with self._lock:
            self._onboarded = (time.monotonic(), onboarded)
        return onboarded

    def _category(self, name: str, language: str) -> str:
        """The template's category on Meta (read with its time-to-live, which is set here when it differs)."""
        key = (name, language)
        with self._lock:
            cached = self._templates.get(key)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        category = ""
        try:
            data = self.graph.get_json(
                f"{self.settings.waba_id}/message_templates",
                params={
                    "name": name,
                    "language": language,
                    "fields": "id,name,language,category,message_send_ttl_seconds",
                },
            )
            found = [t for t in data.get("data") or [] if t.get("name") == name and t.get("language") == language]
            if found:
                category = str(found[0].get("category") or "").upper()
                if category == "MARKETING":
                    self._set_ttl(found[0])
        except PlatformError as exc:
            log.warning("could not read template %s (%s): %s", name, language, exc)
        with self._lock:
            self._templates[key] = (time.monotonic(), category)
        return category

    def _set_ttl(self, template: dict[str, Any]) -> None:
        """Give a marketing template the configured time-to-live (Meta resets it on re-categorization)."""
        wanted = min(max(self.settings.ttl_seconds, TTL_MIN), TTL_MAX)
        if template.get("message_send_ttl_seconds") == wanted or not template.get("id"):
            return
        self.graph.post_json(str(template["id"]), json={"message_send_ttl_seconds": wanted})
