"""WhatsApp limits and consent signals of 2026 (platform-changes-2026.md §2-§4), as the sandbox plays them.

* **Messaging limit per business portfolio**: unique users reached outside a customer service window in a moving
  24 h, shared by every number of the portfolio (the demo number and ``portfolio_phone_numbers``). Read with
  ``GET /<PHONE_NUMBER_ID>?fields=whatsapp_business_manager_messaging_limit``; a change is announced with a
  ``business_capability_update`` webhook. Meta documents no error code for a send over the limit (NOT FOUND):
  the sandbox accepts it and fails it asynchronously with ``reach_limit_fail_code``.
* **Failures after the send was accepted**: marketing templates to US (+1) numbers and resends within 24 h of a
  131049 fail with 131049; marketing to a user who stopped marketing (``user_preferences``) fails with 131050;
  ``fail_next`` makes a recipient's next message fail with a chosen code.
* **user_preferences**: the customer stops or resumes marketing inside WhatsApp (exact payload of §3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector_meta.sandbox.state import GraphState, Template
from flask import Blueprint, Response, abort, jsonify, request

if TYPE_CHECKING:
    from connector_meta.sandbox.events import WebhookHub

#: ``whatsapp_business_manager_messaging_limit`` values and the unique users each allows (0 = unlimited).
TIERS = {"TIER_250": 250, "TIER_2K": 2000, "TIER_10K": 10000, "TIER_100K": 100000, "TIER_UNLIMITED": 0}
DAY = 86400.0
PENALTY = 24 * 3600.0

#: Titles and details of asynchronous failures (whatsapp-cloud-api.md §6, platform-changes-2026.md §3-§4).
FAILURES: dict[int, tuple[str, str]] = {
    131026: (
        "Message undeliverable",
        "Message failed to send because the recipient is not on WhatsApp, has not accepted the new Terms of "
        "Service, or uses an unsupported client.",
    ),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131050: (
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
        "WhatsApp from your business",
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
        "WhatsApp from your business",
    ),
    130472: ("User's number is part of an experiment", "User's number is part of an experiment."),
    130497: (
        "Business account is restricted from messaging users in this country",
        "Business account is restricted from messaging users in this country.",
    ),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
}
NEW_HREF = "/documentation/business-messaging/whatsapp/support/error-codes"


def failure(code: int, details: str | None = None) -> dict[str, Any]:
    """One ``statuses[].errors[]`` entry."""
    title, known = FAILURES.get(code, ("Message failed to send", "Message failed to send."))
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or known},
        "href": NEW_HREF,
    }


def portfolio_numbers(state: GraphState) -> dict[str, str]:
    """Every phone number of the demo business portfolio: phone_number_id -> display number."""
    return {
        state.business.phone_number_id: state.business.display_phone_number,
        **state.options.portfolio_phone_numbers,
    }


def reach_limit(state: GraphState) -> int:
    """Unique users the portfolio may reach outside a window per 24 h (0 = unlimited)."""
    if state.options.messaging_limit_users > 0:
        return state.options.messaging_limit_users
    return TIERS.get(state.options.messaging_limit_tier, 250)


def async_failure(
    state: GraphState, wa_id: str, template: Template | None, window_open: bool, now: float
) -> tuple[int, str | None] | None:
    """The code (and details) an accepted message will fail with, or ``None`` when it goes through.

    The caller holds ``state.lock``. Counts the user into the portfolio's reach when business-initiated."""
    options = state.options
    planned = options.fail_next.pop(wa_id, None)
    if planned is not None:  # "131047" or "131047,131026": one code per message, in that order
        first, _, rest = planned.partition(",")
        if rest.strip():
            options.fail_next[wa_id] = rest.strip()
        return int(first), None
    marketing = template is not None and template.category.upper() == "MARKETING"
    if marketing and wa_id in state.marketing_stopped:
        return 131050, None
    if marketing and options.us_marketing_blocked and wa_id.startswith("1"):
        return 131049, None
    if marketing and state.marketing_penalty.get(wa_id, 0.0) > now:
        return 131049, "Resent within 24 hours of a 131049: marketing to this user is blocked for up to 24 hours."
    if not window_open and not _reach(state, wa_id, now):
        return options.reach_limit_fail_code, (
            f"The business portfolio reached its messaging limit ({reach_limit(state)} unique users outside a "
            "customer service window in 24 hours). Sandbox: Meta documents no dedicated error code for this."
        )
    return None


def note_failure(state: GraphState, wa_id: str, code: int, now: float) -> None:
    """Remember a 131049: a marketing resend to that user within 24 h fails again (since 2026-04-30)."""
    if code == 131049:
        state.marketing_penalty[wa_id] = now + PENALTY


def _reach(state: GraphState, wa_id: str, now: float) -> bool:
    """Count ``wa_id`` as reached by the portfolio; ``False`` when that would go over the limit."""
    reached = state.portfolio_reached
    # Users are added in time order and never moved: the expired ones are at the front. (Scanning every user on
    # every send made each send cost more the more had been sent: 100,000 sends took minutes of sandbox CPU.)
    while reached:
        user, at = next(iter(reached.items()))
        if now - at < DAY:
            break
        del reached[user]
    limit = reach_limit(state)
    if wa_id in reached:
        return True
    if limit and len(reached) >= limit:
        return False
    reached[wa_id] = now
    return True


def user_preferences_value(
    state: GraphState, phone_number_id: str, wa_id: str, value: str, name: str, timestamp: int
) -> dict[str, Any]:
    """The ``value`` of a ``user_preferences`` change, exactly as platform-changes-2026.md §3.2 shows it."""
    user_id = state.user_id_for(wa_id)
    detail = (
        "User requested to stop marketing messages"
        if value == "stop"
        else "User requested to resume marketing messages"
    )
    return {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": portfolio_numbers(state)[phone_number_id],
            "phone_number_id": phone_number_id,
        },
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id, "user_id": user_id}],
        "user_preferences": [
            {
                "wa_id": wa_id,
                "user_id": user_id,
                "detail": detail,
                "category": "marketing_messages",
                "value": value,
                "timestamp": timestamp,
            }
        ],
    }


def capability_value(state: GraphState) -> dict[str, Any]:
    """The ``value`` of a ``business_capability_update`` (§2): the limit as the doc's example shows it (an
    integer; ``-1`` for unlimited, as the removed per-phone field had it) or as its table names it (``TIER_2K``),
    per ``capability_limit_format``."""
    limit: int | str = state.options.messaging_limit_tier
    if state.options.capability_limit_format == "integer":
        limit = reach_limit(state) or -1
    return {"max_daily_conversations_per_business": limit, "max_phone_numbers_per_waba": 25}


def signals_blueprint(state: GraphState, hub: WebhookHub) -> Blueprint:
    """Control routes under ``/_sandbox/whatsapp/``: the customer stops or resumes marketing inside WhatsApp, Meta
    changes the portfolio's messaging limit."""
    bp = Blueprint("graph_signals", __name__, url_prefix="/_sandbox/whatsapp")

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            abort(jsonify({"error": "send a JSON object"}), 400)
        return data

    def refuse(reason: str) -> Response:
        response = jsonify({"error": reason})
        response.status_code = 400
        return response

    @bp.post("/user_preferences")
    def user_preferences() -> Response:
        data = body()
        value = data.get("value")
        wa_id = "".join(ch for ch in str(data.get("wa_id") or "") if ch.isdigit())
        phone_number_id = str(data.get("phone_number_id") or state.business.phone_number_id)
        if value not in ("stop", "resume"):
            return refuse("value must be stop or resume")
        if not wa_id:
            return refuse("wa_id is required")
        with state.lock:
            if phone_number_id not in portfolio_numbers(state):
                return refuse(f"unknown phone_number_id {phone_number_id}")
            if value == "stop":
                state.marketing_stopped.add(wa_id)
            else:
                state.marketing_stopped.discard(wa_id)
            name = str(data.get("name") or "Customer")
            change = user_preferences_value(state, phone_number_id, wa_id, value, name, int(state.now()))
        delivered = hub.deliver("whatsapp_business_account", hub.whatsapp_change("user_preferences", change))
        return jsonify({"value": change, "webhook_queued": delivered})

    @bp.post("/messaging_limit")
    def messaging_limit() -> Response:
        data = body()
        tier, users = data.get("tier"), data.get("users", 0)
        if tier not in TIERS:
            return refuse(f"tier must be one of {', '.join(TIERS)}")
        if not isinstance(users, int) or users < 0:
            return refuse("users must be a whole number (0: the tier's)")
        with state.lock:
            state.options.messaging_limit_tier = tier
            state.options.messaging_limit_users = users
            change = capability_value(state)
        delivered = hub.deliver("whatsapp_business_account", hub.whatsapp_change("business_capability_update", change))
        return jsonify({"value": change, "webhook_queued": delivered})

    return bp
