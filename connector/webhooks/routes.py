"""``GET``/``POST /webhooks/<adapter>/<connection id>``: verify, parse, store once, answer fast.

The raw request goes to the connection's adapter (after the ``connector_verify_webhook`` and
``connector_parse_webhook`` hooks had their say). A valid delivery is stored in ``webhook_events``
together with a ``webhook.process`` task in one transaction, then acknowledged; the worker does the
rest. A redelivery (same delivery id) is acknowledged and counted, never processed twice.

A channel delivery that carries only delivery statuses (sent/delivered/read/failed: most of a fan-out's
webhooks) needs no network I/O and fires no hook, so it is applied to the outbox right here, in the
transaction that stores the event (stored as ``processed``, still deduplicated and kept for audit). Should
applying fail, the savepoint is rolled back and the event is stored for the worker as any other.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import Headers

from connector import model
from connector.adapters import WebhookRequest
from connector.chat.inbound import apply_delivery_statuses
from connector.db.models import WebhookEvent
from connector.errors import NotFound, WebhookRejected
from connector.web.context import runtime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.connections import ConnectionRef
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


#: How long a connection's ref and adapter are reused between webhooks. On SQLite every transaction, reads too,
#: takes the write lock, so two reads per webhook would queue behind the worker's writes on every delivery.
CONNECTION_TTL = 1.0

_connections: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], tuple[float, ConnectionRef, Any]]] = (
    weakref.WeakKeyDictionary()
)
_connections_lock = threading.Lock()


def _connection(rt: Runtime, kind: Literal["shop", "channel"], connection_id: int) -> tuple[ConnectionRef, Any]:
    """The connection's ref and adapter, read at most once per :data:`CONNECTION_TTL` per process (a settings
    change or a deleted connection takes effect within that time). Raises :class:`NotFound`."""
    now = time.monotonic()
    with _connections_lock:
        cache = _connections.setdefault(rt, {})
        hit = cache.get((kind, connection_id))
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    ref = rt.connections.ref(kind, connection_id)
    adapter = (
        rt.connections.shop_adapter(connection_id) if kind == "shop" else rt.connections.channel_adapter(connection_id)
    )
    with _connections_lock:
        cache[(kind, connection_id)] = (now + CONNECTION_TTL, ref, adapter)
    return ref, adapter


def _error(status: int, reason: str) -> tuple[Response, int]:
    return jsonify({"error": reason}), status


@bp.route("/<adapter_name>/<int:connection_id>", methods=["GET", "POST"])
def receive(adapter_name: str, connection_id: int) -> tuple[Response, int] | Response:
    rt = runtime()
    kind: Literal["shop", "channel"]
    if adapter_name in rt.plugins.shop_adapters:
        kind = "shop"
    elif adapter_name in rt.plugins.channel_adapters:
        kind = "channel"
    else:
        return _error(404, f"no plugin named {adapter_name!r} receives webhooks here")
    try:
        ref, adapter = _connection(rt, kind, connection_id)
    except NotFound:
        return _error(404, f"no {kind} connection {connection_id}")
    if ref.adapter != adapter_name:
        return _error(404, f"connection {connection_id} is a {ref.adapter} connection, not {adapter_name}")

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
    statuses_only = (
        kind == "channel"
        and bool(parsed.events)
        and all(isinstance(item, model.DeliveryStatus) for item in parsed.events)
    )
    queued = True
    try:
        with rt.db.session() as session:
            session.add(event)
            session.flush()
            if statuses_only and _apply_statuses(rt, session, event, parsed.events):
                queued = False
            else:
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
    if queued:
        rt.queue.notify()
    return jsonify({"status": "accepted", "id": event.id}), 200


def _apply_statuses(rt: Runtime, session: Session, event: WebhookEvent, statuses: list[Any]) -> bool:
    """Apply a status-only delivery in the transaction that stores it. False (nothing applied: its savepoint is
    rolled back) when applying fails; the worker then processes the event as any other."""
    try:
        with session.begin_nested():
            apply_delivery_statuses(session, event.connection_id, statuses)
            event.status, event.processed_at = "processed", datetime.now(UTC)
            session.flush()
    except Exception:
        log.exception("webhook %s: applying its statuses failed; the worker will process it", event.id)
        event.status, event.processed_at = "received", None
        return False
    return True
