"""WhatsApp pricing as the Graph sandbox reports it (platform-changes-2026.md §1, §3.3, §3.4): the ``pricing``
object of status webhooks (v24.0+ shape), the free entry-point window, template re-categorization
(``template_category_update`` webhooks) and the Marketing Messages API's ``marketing_lite`` category.

* Since ``Options.service_billing_from`` (2026-10-01) service messages and utility templates inside the customer
  service window are billed: ``billable: true``, ``type: "regular"``. Before it they are
  ``free_customer_service`` (Meta's example after the change: NOT FOUND; the sheet says make it configurable).
* A customer who wrote from a Click-to-WhatsApp ad (a ``referral`` with ``source_type`` ad / post) opens a free
  entry point when the business answers within 24 hours: every message for 72 hours from the referral is
  ``category: "referral_conversion"``, ``type: "free_entry_point"``, ``billable: false``, and only these statuses
  still carry ``conversation`` (omitted from v24.0 otherwise).
* A marketing template sent through ``/marketing_messages`` is ``marketing_lite``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector_meta.sandbox.errors import GraphError, invalid_parameter
from connector_meta.sandbox.state import GraphState, Template

if TYPE_CHECKING:
    from connector_meta.sandbox.events import WebhookHub

#: Seconds of the free entry-point window, and within how long the business must answer to open it.
ENTRY_POINT_SECONDS = 72 * 3600
ENTRY_POINT_REPLY_SECONDS = 24 * 3600
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
#: ``message_send_ttl_seconds`` ranges per category (§3.4); ``-1`` = 30 days for authentication and utility.
TTL_RANGES = {"AUTHENTICATION": (30, 900), "UTILITY": (30, 43_200), "MARKETING": (43_200, 2_592_000)}
PRODUCT_POLICIES = ("CLOUD_API_FALLBACK", "STRICT")


def note_entry_point(state: GraphState, phone_number_id: str, wa_id: str, message: dict[str, Any]) -> None:
    """A customer message from a Click-to-WhatsApp ad or post starts an entry point. The caller holds the lock."""
    referral = message.get("referral")
    if isinstance(referral, dict) and referral.get("source_type") in ("ad", "post"):
        key = (phone_number_id, wa_id)
        state.wa_entry_points[key] = state.now()
        state.wa_entry_replies.pop(key, None)


def _in_entry_point(state: GraphState, phone_number_id: str, wa_id: str, now: float) -> bool:
    """Whether a message sent ``now`` is free: inside 72 h of the referral, the business's first answer having come
    within 24 h of it (the first answer is noted here)."""
    key = (phone_number_id, wa_id)
    started = state.wa_entry_points.get(key)
    if started is None or now - started > ENTRY_POINT_SECONDS:
        return False
    answered = state.wa_entry_replies.setdefault(key, now)
    return answered - started <= ENTRY_POINT_REPLY_SECONDS


def status_pricing(
    state: GraphState,
    phone_number_id: str,
    wa_id: str,
    template: Template | None,
    window_open: bool,
    *,
    marketing_lite: bool = False,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The ``pricing`` object the statuses of one accepted message carry, and its ``conversation`` object (only
    for a free entry point). The caller holds the lock."""
    now = state.now()
    conversation_id = f"{phone_number_id}:{wa_id}:{int(now) // 86400}"
    if _in_entry_point(state, phone_number_id, wa_id, now):
        pricing = {"billable": False, "pricing_model": "PMP", "category": "referral_conversion",
                   "type": "free_entry_point"}  # fmt: skip
        return pricing, {"id": conversation_id, "origin": {"type": "referral_conversion"}}
    category = template.category.lower() if template is not None else "service"
    if marketing_lite and category == "marketing":
        category = "marketing_lite"
    free_in_window = now < state.options.service_billing_from and category in ("service", "utility")
    free = free_in_window and (window_open or category == "service")
    pricing = {
        "billable": not free,
        "pricing_model": "PMP",
        "category": category,
        "type": "free_customer_service" if free else "regular",
    }
    return pricing, None


# --------------------------------------------------------------------------- template re-categorization


def recategorize(
    state: GraphState, hub: WebhookHub, name: str, language: str, category: str, at: float | None
) -> dict[str, Any]:
    """Meta re-categorizes template ``name``: with ``at`` in the future, the impending notice now and the change at
    ``at``; otherwise the change and the completed notice now. Returns the webhook value sent."""
    category = category.upper()
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(CATEGORIES)}")
    with state.lock:
        template = state.templates.get((name, language))
        if template is None:
            raise ValueError(f"no template {name} in {language}")
        now = state.now()
        if at is not None and at > now:
            value = {
                "message_template_id": int(template.id),
                "message_template_name": name,
                "message_template_language": language,
                "new_category": template.category,
                "correct_category": category,
                "category_update_timestamp": int(at),
            }
            state.pending_categories[(name, language)] = (at, category)
        else:
            value = _apply(state, template, category)
    _send(state, hub, value)
    return value


def apply_due(state: GraphState, hub: WebhookHub) -> None:
    """Make the re-categorizations whose time came (before a send is checked), with their completed notices."""
    if not state.pending_categories:
        return
    sent: list[dict[str, Any]] = []
    with state.lock:
        now = state.now()
        for key, (at, category) in list(state.pending_categories.items()):
            template = state.templates.get(key)
            if at <= now:
                del state.pending_categories[key]
                if template is not None:
                    sent.append(_apply(state, template, category))
    for value in sent:
        _send(state, hub, value)


def _apply(state: GraphState, template: Template, category: str) -> dict[str, Any]:
    previous = template.category
    template.category = category
    template.ttl_seconds = None  # Meta resets a template's time-to-live when it re-categorizes it
    state.pending_categories.pop((template.name, template.language), None)
    return {
        "message_template_id": int(template.id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "previous_category": previous,
        "new_category": category,
    }


def _send(state: GraphState, hub: WebhookHub, value: dict[str, Any]) -> None:
    business = state.business
    change = {"field": "template_category_update", "value": value}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": business.waba_id, "time": int(state.now()), "changes": [change]}],
    }
    hub.deliver("whatsapp_business_account", payload)


# --------------------------------------------------------------------------- Marketing Messages API


def check_marketing_send(state: GraphState, body: Any, template: Template | None) -> None:
    """What ``/marketing_messages`` refuses beyond a ``/messages`` send: an account not onboarded, a message that
    is no template, a template that is not marketing, a missing or unknown ``product_policy``. The caller holds
    the lock. Meta's codes for these: only "100, message must be a template" is reported; the others answer code
    100 (invalid parameter) here too."""
    if state.options.marketing_messages_onboarding_status != "ONBOARDED":
        raise GraphError(
            100,
            "Invalid parameter",
            details="The WhatsApp Business Account is not onboarded to the Marketing Messages API "
            f"(marketing_messages_onboarding_status: {state.options.marketing_messages_onboarding_status})",
            whatsapp=True,
        )
    if template is None:
        raise invalid_parameter("Message must be a template message", whatsapp=True)
    if template.category != "MARKETING":
        raise invalid_parameter(
            f"Template {template.name} is a {template.category} template; the Marketing Messages API sends "
            "marketing templates only",
            whatsapp=True,
        )
    policy = body.get("product_policy") if isinstance(body, dict) else None
    if policy is not None and policy not in PRODUCT_POLICIES:
        raise invalid_parameter(f"Param product_policy must be one of {{{', '.join(PRODUCT_POLICIES)}}}", whatsapp=True)
    sharing = body.get("message_activity_sharing") if isinstance(body, dict) else None
    if sharing is not None and not isinstance(sharing, bool):
        raise invalid_parameter("Param message_activity_sharing must be a boolean", whatsapp=True)


def check_ttl(category: str, value: Any) -> int | None:
    """A template's ``message_send_ttl_seconds`` as Meta accepts it for ``category`` (§3.4); raises otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise invalid_parameter("Param message_send_ttl_seconds must be an integer")
    seconds = int(value)
    low, high = TTL_RANGES.get(category, (30, 2_592_000))
    if seconds == -1 and category != "MARKETING":
        return seconds
    if not low <= seconds <= high:
        raise invalid_parameter(
            f"Param message_send_ttl_seconds must be between {low} and {high} for {category} templates"
        )
    return seconds
