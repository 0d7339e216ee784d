"""``GET``/``POST /webhooks/<adapter>/<connection id>``: verify, parse, store once, answer fast.

The raw request goes to the connection's adapter (after the ``connector_verify_webhook`` and
``connector_parse_webhook`` hooks had their say). A valid delivery is stored in ``webhook_events``
together with a ``webhook.process`` task in one transaction, then acknowledged; the worker does the
rest. A redelivery (same delivery id) is acknowledged and counted, never processed twice.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import Headers

from connector.adapters import WebhookRequest
from connector.db.models import WebhookEvent
from connector.errors import NotFound, WebhookRejected
from connector.web.context import runtime

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _error(status: int, reason: str) -> tuple[Response, int]:
    return jsonify({"error": reason}), status


@bp.route("/<adapter_name>/<int:connection_id>", methods=["GET", "POST"])
def receive(adapter_name: str, connection_id: int) -> tuple[Response, int] | Response:
    rt = runtime()
    if adapter_name in rt.plugins.shop_adapters:
        kind = "shop"
    elif adapter_name in rt.plugins.channel_adapters:
        kind = "channel"
    else:
        return _error(404, f"no plugin named {adapter_name!r} receives webhooks here")
    try:
        ref = rt.connections.ref(kind, connection_id)
    except NotFound:
        return _error(404, f"no {kind} connection {connection_id}")
    if ref.adapter != adapter_name:
        return _error(404, f"connection {connection_id} is a {ref.adapter} connection, not {adapter_name}")
    adapter = (
        rt.connections.shop_adapter(connection_id) if kind == "shop" else rt.connections.channel_adapter(connection_id)
    )

    raw = WebhookRequest(
        method=request.method,
        url=request.url,
        headers=Headers(list(request.headers.items())),
        query=request.args.to_dict(),
        body=request.get_data(),
    )
    try:
        reply = adapter.handshake(raw)
        if reply is not None:
            return Response(reply.body, status=reply.status, content_type=reply.content_type)
        if request.method != "POST":
            return _error(405, "webhook deliveries are POST requests")
        if rt.plugins.verify_webhook(ref, raw) is None:
            adapter.verify_webhook(raw)
        parsed = rt.plugins.parse_webhook(ref, raw) or adapter.parse_webhook(raw)
    except WebhookRejected as exc:
        log.info("webhook for %s %s refused: %s", kind, connection_id, exc)
        return _error(exc.status, exc.reason)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A payload that does not have the platform's shape is the sender's problem, not a 500.
        log.info("webhook for %s %s malformed: %r", kind, connection_id, exc)
        return _error(400, f"malformed payload: {type(exc).__name__}: {exc}")

    event = WebhookEvent(
        connection_kind=kind,
        connection_id=connection_id,
        adapter=adapter_name,
        delivery_id=parsed.delivery_id[:255],
        topic=parsed.topic[:255],
        method=raw.method,
        url=raw.url,
        headers=dict(raw.headers.items()),
        query=dict(raw.query),
        body=raw.body,
    )
    try:
        with rt.db.session() as session:
            session.add(event)
            session.flush()
            rt.queue.enqueue("webhook.process", {"event_id": event.id}, session=session, priority=10)
    except IntegrityError:
        with rt.db.session() as session:
            session.execute(
                update(WebhookEvent)
                .where(
                    WebhookEvent.connection_kind == kind,
                    WebhookEvent.connection_id == connection_id,
                    WebhookEvent.delivery_id == event.delivery_id,
                )
                .values(duplicates=WebhookEvent.duplicates + 1)
            )
            first = session.scalar(
                select(WebhookEvent.id).where(
                    WebhookEvent.connection_kind == kind,
                    WebhookEvent.connection_id == connection_id,
                    WebhookEvent.delivery_id == event.delivery_id,
                )
            )
        return jsonify({"status": "duplicate", "id": first}), 200
    rt.queue._notify()
    return jsonify({"status": "accepted", "id": event.id}), 200
