"""Admin API routes of the notify subsystem, and the public back-in-stock endpoint.

A plain Flask blueprint under ``/api/v1/notifications`` (bearer token checked with
:func:`connector.api.auth.require_bearer`, like the rest of the admin API) and ``/public/back-in-stock`` (no token;
rate-limited per client address and per phone number; answers CORS so a shop's product page can call it; records
only a request the customer confirms on WhatsApp).

Admin queries go through the request's visible shops (:mod:`connector.api.scope`): a shop token sees only the
notifications, costs, subscriptions and consent of its shop's channels and contacts; another shop's are a 404.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, jsonify, make_response, request
from sqlalchemy import select

from connector.api.auth import require_bearer
from connector.api.scope import channel_visible, contact_visible, shop_visible
from connector.db.models import Contact, OutboundMessage, ShopConnection
from connector.db.models_notify import BackInStockSubscription, Consent, ConsentEvent, OutboxEvent
from connector.notify import back_in_stock, billing, double_opt_in
from connector.notify.consent import PURPOSES, ConsentRefused, record_opt_in, record_opt_out
from connector.notify.contacts import contact_for_phone, digits
from connector.notify.pricing import SPENT
from connector.notify.public_limits import address_wait, phone_wait
from connector.web.context import runtime


def _error(status: int, message: str) -> Response:
    response = jsonify({"code": status, "status": "error", "message": message})
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(_error(400, "send a JSON object"))
    return data


def _int(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        abort(_error(400, f"{field} must be an integer"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def message_json(row: OutboundMessage) -> dict[str, Any]:
    """One outbox row as the API shows it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "channel_connection_id": row.channel_connection_id,
        "contact_id": row.contact_id,
        "recipient": row.recipient,
        "purpose": row.purpose,
        "category": row.category,
        "country": row.country,
        "cost": row.cost,
        "currency": row.currency,
        "outside_window": row.outside_window,
        "billed": {
            "category": row.billed_category,
            "type": row.billed_type,
            "billable": row.billable,
            "pricing_model": row.pricing_model,
        }
        if row.billed_category is not None or row.billable is not None
        else None,
        "reason": row.reason,
        "deferred_until": _iso(row.deferred_until),
        "error": row.error,
        "error_code": row.error_code,
        "channel_message_id": row.channel_message_id,
        "attempts": row.attempts,
        "created_at": _iso(row.created_at),
        "sent_at": _iso(row.sent_at),
    }


def admin_blueprint() -> Blueprint:
    """``/api/v1/notifications``: notifications with their timeline and cost, costs per day, subscriptions, consent."""
    bp = Blueprint("notify_api", __name__, url_prefix="/api/v1/notifications")

    @bp.before_request
    def _auth() -> tuple[Response, int, dict[str, str]] | None:
        return require_bearer(runtime())

    @bp.get("")
    def list_notifications() -> Response:
        limit = min(_int(request.args.get("limit", 50), "limit"), 500)
        query = (
            select(OutboundMessage)
            .where(channel_visible(OutboundMessage.channel_connection_id))
            .order_by(OutboundMessage.id.desc())
            .limit(limit)
        )
        for field in ("status", "kind"):
            if request.args.get(field):
                query = query.where(getattr(OutboundMessage, field) == request.args[field])
        with runtime().db.session() as session:
            rows = list(session.scalars(query))
        return jsonify({"items": [message_json(r) for r in rows]})

    @bp.get("/<int:message_id>")
    def get_notification(message_id: int) -> Response:
        with runtime().db.session() as session:
            row = session.scalar(
                select(OutboundMessage).where(
                    OutboundMessage.id == message_id, channel_visible(OutboundMessage.channel_connection_id)
                )
            )
            if row is None:
                return _error(404, f"no notification {message_id}")
            events = session.scalars(
                select(OutboxEvent).where(OutboxEvent.message_id == message_id).order_by(OutboxEvent.id)
            )
            timeline = [{"status": e.status, "detail": e.detail, "at": _iso(e.at)} for e in events]
        return jsonify({**message_json(row), "timeline": timeline})

    @bp.get("/costs")
    def costs() -> Response:
        days = min(max(_int(request.args.get("days", 7), "days"), 1), 366)
        since = (datetime.now(UTC) - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        with runtime().db.session() as session:
            rows = session.execute(
                select(
                    OutboundMessage.sent_at,
                    OutboundMessage.kind,
                    OutboundMessage.cost,
                    OutboundMessage.category,
                    OutboundMessage.country,
                    OutboundMessage.billed_category,
                    OutboundMessage.billable,
                ).where(
                    OutboundMessage.sent_at >= since,
                    OutboundMessage.status.in_(SPENT),
                    channel_visible(OutboundMessage.channel_connection_id),
                )
            ).all()
        settings = runtime().config.notify
        # Our estimate next to the cost of what Meta's status webhooks reported, per day.
        compared = billing.daily(settings, [(r[0], r[3], r[4], r[2], r[5], r[6]) for r in rows])
        table: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"messages": 0, "cost": 0.0})
        for sent_at, kind, cost, *_ in rows:
            if sent_at is None:  # never: the query asks for sent_at >= since
                continue
            entry = table[(sent_at.date().isoformat(), kind)]
            entry["messages"] += 1
            entry["cost"] = round(entry["cost"] + (cost or 0.0), 6)
        items = [{"day": day, "kind": kind, **values} for (day, kind), values in sorted(table.items())]
        currency = settings.rate_card_currency
        return jsonify({"currency": currency, "items": items, "days": [day.as_json() for day in compared]})

    @bp.get("/subscriptions")
    def list_subscriptions() -> Response:
        query = (
            select(BackInStockSubscription)
            .where(shop_visible(BackInStockSubscription.shop_connection_id))
            .order_by(BackInStockSubscription.id)
            .limit(1000)
        )
        if request.args.get("variant_external_id"):
            query = query.where(BackInStockSubscription.variant_external_id == request.args["variant_external_id"])
        if request.args.get("status"):
            query = query.where(BackInStockSubscription.status == request.args["status"])
        with runtime().db.session() as session:
            rows = list(session.scalars(query))
        return jsonify(
            {
                "items": [
                    {
                        "id": r.id,
                        "contact_id": r.contact_id,
                        "shop_connection_id": r.shop_connection_id,
                        "variant_external_id": r.variant_external_id,
                        "status": r.status,
                        "source": r.source,
                        "created_at": _iso(r.created_at),
                        "expires_at": _iso(r.expires_at),
                        "outbound_message_id": r.outbound_message_id,
                    }
                    for r in rows
                ]
            }
        )

    @bp.post("/subscriptions")
    def create_subscription() -> tuple[Response, int]:
        data = _body()
        rt = runtime()
        shop_id = _int(data.get("shop_connection_id"), "shop_connection_id")
        variant = str(data.get("variant_external_id") or "").strip()
        if not variant:
            abort(_error(400, "variant_external_id is required"))
        with rt.db.session() as session:
            shop = select(ShopConnection.id).where(ShopConnection.id == shop_id, shop_visible(ShopConnection.id))
            if session.scalar(shop) is None:
                abort(_error(404, f"no shop connection {shop_id}"))
            if data.get("contact_id") is not None:
                wanted = _int(data["contact_id"], "contact_id")
                contact = session.scalar(select(Contact).where(Contact.id == wanted, contact_visible(Contact.id)))
            elif data.get("phone"):
                contact = contact_for_phone(session, shop_id, str(data["phone"]))
            else:
                abort(_error(400, "give contact_id or phone"))
            if contact is None:
                abort(_error(404, "no such contact (or the shop has no WhatsApp channel)"))
            contact_id = contact.id
        consent_text = data.get("consent_text")
        if consent_text is not None and not isinstance(consent_text, str):
            abort(_error(400, "consent_text must be a string"))
        try:
            sub_id = back_in_stock.subscribe(
                rt,
                contact_id=contact_id,
                shop_connection_id=shop_id,
                variant_external_id=variant,
                source=str(data.get("source") or "admin_api")[:64],
                consent_text=consent_text,
            )
        except ConsentRefused as exc:
            abort(_error(409, str(exc)))
        return jsonify({"id": sub_id, "contact_id": contact_id}), 201

    def contact_exists(session: Any, contact_id: int) -> bool:
        """Whether the contact exists and is of a visible shop."""
        found = select(Contact.id).where(Contact.id == contact_id, contact_visible(Contact.id))
        return session.scalar(found) is not None

    @bp.get("/consent/<int:contact_id>")
    def get_consent(contact_id: int) -> Response:
        with runtime().db.session() as session:
            if not contact_exists(session, contact_id):
                return _error(404, f"no contact {contact_id}")
            current = {
                c.purpose: {"granted": c.granted, "source": c.source, "text": c.text, "granted_at": _iso(c.granted_at)}
                for c in session.scalars(select(Consent).where(Consent.contact_id == contact_id))
            }
            history = [
                {"purpose": e.purpose, "action": e.action, "source": e.source, "text": e.text, "at": _iso(e.at)}
                for e in session.scalars(
                    select(ConsentEvent).where(ConsentEvent.contact_id == contact_id).order_by(ConsentEvent.id)
                )
            ]
        return jsonify({"contact_id": contact_id, "consent": current, "history": history})

    @bp.post("/consent/<int:contact_id>")
    def set_consent(contact_id: int) -> Response:
        data = _body()
        purpose = data.get("purpose")
        if purpose not in PURPOSES:
            return _error(400, f"purpose must be one of {', '.join(PURPOSES)}")
        if not isinstance(data.get("granted"), bool):
            return _error(400, "granted must be true or false")
        text = data.get("text")
        if data["granted"] and (not isinstance(text, str) or not text.strip()):
            return _error(400, "an opt-in needs the text the customer agreed to")
        rt = runtime()
        with rt.db.session() as session:
            if not contact_exists(session, contact_id):
                return _error(404, f"no contact {contact_id}")
        source = str(data.get("source") or "admin_api")[:64]
        if data["granted"]:
            try:
                record_opt_in(rt, contact_id=contact_id, purpose=purpose, source=source, text=str(text))
            except ConsentRefused as exc:
                return _error(409, str(exc))
        else:
            record_opt_out(rt, contact_id=contact_id, purpose=purpose, source=source, text=str(text or ""))
        return get_consent(contact_id)

    return bp


def too_many(wait: int) -> Response:
    """A 429 with ``Retry-After`` (whole seconds)."""
    response = _error(429, "too many requests; try again later")
    response.headers["Retry-After"] = str(max(1, wait))
    return response


def public_blueprint() -> Blueprint:
    """``POST /public/back-in-stock``: a product page asks to subscribe a phone number, with the consent checkbox
    ticked. The subscription stays pending until the customer confirms it on WhatsApp (double opt-in)."""
    bp = Blueprint("notify_public", __name__, url_prefix="/public")

    def cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        return response

    @bp.after_request
    def _cors(response: Response) -> Response:
        return cors(response)

    @bp.route("/back-in-stock", methods=["OPTIONS"])
    def preflight() -> Response:
        return make_response("", 204)

    @bp.post("/back-in-stock")
    def subscribe() -> tuple[Response, int] | Response:
        rt = runtime()
        wait = address_wait()
        if wait:
            return too_many(wait)
        data = _body()
        if data.get("consent") is not True:
            return _error(400, "the consent checkbox must be ticked (consent: true)")
        phone = digits(str(data.get("phone") or ""))
        if not 8 <= len(phone) <= 15:
            return _error(400, "phone must be a number in international format, e.g. +4915112345678")
        shop_id = _int(data.get("shop_connection_id"), "shop_connection_id")
        variant = str(data.get("variant_external_id") or "").strip()
        if not variant or len(variant) > 255:
            return _error(400, "variant_external_id is required (at most 255 characters)")
        language = data.get("language")
        if language is not None and (not isinstance(language, str) or len(language) > 16):
            return _error(400, "language must be a short language code such as de or en_US")
        wait = phone_wait(phone)
        if wait:
            return too_many(wait)
        with rt.db.session() as session:
            if session.get(ShopConnection, shop_id) is None:
                return _error(404, f"no shop {shop_id}")
            contact = contact_for_phone(session, shop_id, phone, locale=language)
            if contact is None:
                return _error(404, "this shop has no WhatsApp channel")
            pending = double_opt_in.request(
                rt,
                session,
                contact=contact,
                purposes=[back_in_stock.purpose_of(rt)],
                source="public_form",
                text=rt.config.notify.public_consent_text,
                client=request.remote_addr or "",
            )
            sub_id = back_in_stock.subscribe_pending(
                session,
                contact_id=contact.id,
                shop_connection_id=shop_id,
                variant_external_id=variant,
                source="public_form",
                request_id=pending.id,
                expires_at=pending.expires_at,
            )
        double_opt_in.prompt(rt, pending.id)
        body = {
            "status": "pending",
            "id": sub_id,
            "confirm_text": pending.confirm_text,
            "expires_at": _iso(pending.expires_at),
        }
        return jsonify(body), 202

    return bp
