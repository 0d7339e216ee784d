"""``/api/v1/recovery``: abandoned checkouts with their state, the recovered revenue, and the rules in force.

Every query goes through the request's visible shops (:mod:`connector.api.scope`): another workspace's checkouts
are neither listed nor counted. The same queries serve the dashboard page and the CLI (:func:`checkouts`,
:func:`summary`, :func:`settings_json`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import ColumnElement, func, select, true

from connector.api.auth import require_bearer
from connector.api.scope import shop_visible
from connector.db.models import Contact, OutboundMessage
from connector.db.models_notify import RecoveryCheckout
from connector.notify.recovery import STATES, display_state
from connector.web.context import runtime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.notify.settings import NotifySettings


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def checkout_json(row: RecoveryCheckout, message: OutboundMessage | None, contact: Contact | None) -> dict[str, Any]:
    """One checkout as the API (and the CLI) shows it."""
    state, reason = display_state(row, message)
    return {
        "id": row.id,
        "shop_connection_id": row.shop_connection_id,
        "source": row.source,
        "external_id": row.external_id,
        "name": row.name,
        "contact_id": row.contact_id,
        "customer": (contact.name or contact.phone or contact.channel_user_id) if contact is not None else None,
        "state": state,
        "reason": reason,
        "items": row.items,
        "total": row.total,
        "currency": row.currency,
        "recovery_url": row.recovery_url,
        "reminders_sent": row.reminders_sent,
        "next_reminder_at": _iso(row.next_reminder_at),
        "last_reminded_at": _iso(row.last_reminded_at),
        "reminder_message_id": row.last_message_id,
        "reminder_status": message.status if message is not None else None,
        "paid_at": _iso(row.paid_at),
        "recovered_at": _iso(row.recovered_at),
        "recovered_revenue": row.recovered_revenue,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def _clause(visible: ColumnElement[bool] | None) -> ColumnElement[bool]:
    """``visible``, or everything (the CLI, which names no workspace)."""
    return visible if visible is not None else true()


def checkouts(
    session: Session,
    *,
    visible: ColumnElement[bool] | None,
    state: str | None = None,
    shop_connection_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest checkouts first (``state`` filters by the state shown, reasons included)."""
    query = (
        select(RecoveryCheckout, OutboundMessage, Contact)
        .outerjoin(OutboundMessage, OutboundMessage.id == RecoveryCheckout.last_message_id)
        .outerjoin(Contact, Contact.id == RecoveryCheckout.contact_id)
        .where(_clause(visible))
        .order_by(RecoveryCheckout.id.desc())
    )
    if shop_connection_id is not None:
        query = query.where(RecoveryCheckout.shop_connection_id == shop_connection_id)
    found = [checkout_json(row, message, contact) for row, message, contact in session.execute(query).all()]
    if state:
        found = [item for item in found if item["state"] == state]
    return found[:limit]


def summary(session: Session, *, visible: ColumnElement[bool] | None) -> dict[str, Any]:
    """How many checkouts are in each state, and the revenue recovered per currency."""
    counts = {state: 0 for state in STATES}
    for item in checkouts(session, visible=visible, limit=1_000_000):
        counts[item["state"]] = counts.get(item["state"], 0) + 1
    revenue = {
        str(currency): round(float(total or 0), 2)
        for currency, total in session.execute(
            select(RecoveryCheckout.currency, func.sum(RecoveryCheckout.recovered_revenue))
            .where(RecoveryCheckout.state == "recovered", _clause(visible))
            .group_by(RecoveryCheckout.currency)
        ).all()
    }
    return {"states": counts, "recovered": counts["recovered"], "recovered_revenue": revenue}


def settings_json(settings: NotifySettings) -> dict[str, Any]:
    """The rules recovery follows, as configured (``[notify]``)."""
    return {
        "enabled": settings.recovery_enabled,
        "delay_minutes": settings.recovery_delay_minutes,
        "reminders": settings.recovery_reminders,
        "spacing_hours": settings.recovery_spacing_hours,
        "attribution_days": settings.recovery_attribution_days,
        "quiet_hours": {"start": settings.quiet_hours_start, "end": settings.quiet_hours_end},
        "shop_time_zone": settings.shop_time_zone,
        "frequency_cap": {"messages": settings.marketing_cap_messages, "days": settings.marketing_cap_days},
        "templates": settings.templates.get("checkout_recovery", {}),
    }


def _error(status: int, message: str) -> Response:
    response = jsonify({"code": status, "status": "error", "message": message})
    response.status_code = status
    return response


def blueprint() -> Blueprint:
    """``/api/v1/recovery``: ``GET checkouts`` (``state``, ``shop_connection_id``, ``limit``), ``GET summary``,
    ``GET settings``."""
    bp = Blueprint("recovery_api", __name__, url_prefix="/api/v1/recovery")

    @bp.before_request
    def _auth() -> tuple[Response, int, dict[str, str]] | None:
        return require_bearer(runtime())

    @bp.get("/checkouts")
    def list_checkouts() -> Response:
        args = request.args
        state = args.get("state") or None
        if state is not None and state not in STATES:
            abort(_error(400, f"state must be one of {', '.join(STATES)}"))
        try:
            limit = min(max(int(args.get("limit", 100)), 1), 1000)
            shop = int(args["shop_connection_id"]) if args.get("shop_connection_id") else None
        except ValueError:
            abort(_error(400, "limit and shop_connection_id must be integers"))
        with runtime().db.session() as session:
            items = checkouts(
                session,
                visible=shop_visible(RecoveryCheckout.shop_connection_id),
                state=state,
                shop_connection_id=shop,
                limit=limit,
            )
        return jsonify({"items": items})

    @bp.get("/summary")
    def get_summary() -> Response:
        with runtime().db.session() as session:
            return jsonify(summary(session, visible=shop_visible(RecoveryCheckout.shop_connection_id)))

    @bp.get("/settings")
    def get_settings() -> Response:
        return jsonify(settings_json(runtime().config.notify))

    return bp
