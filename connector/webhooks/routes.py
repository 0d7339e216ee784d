"""``GET``/``POST /webhooks/<adapter>/<connection id>``: verify, parse, store once, answer fast.

The raw request goes to the connection's adapter (after the ``connector_verify_webhook`` and
``connector_parse_webhook`` hooks had their say). A valid delivery is stored in ``webhook_events``
together with a ``webhook.process`` task in one transaction, then acknowledged; the worker does the
rest. Deliveries that arrive together share that transaction and its disk sync
(:mod:`connector.webhooks.group_commit`); none is acknowledged before its commit. A redelivery (same delivery id) is acknowledged and counted, never processed twice. A delivery the
platform says it sent longer ago than ``[server] webhook_max_age_seconds`` is refused (400) and counted
(:mod:`connector.webhooks.refusals`): deduplication only remembers deliveries while their rows are kept.

A channel delivery that carries only delivery statuses (sent/delivered/read/failed: most of a fan-out's
webhooks) needs no network I/O and fires no hook, so it is applied to the outbox right here, in the
transaction that stores the event (stored as ``processed``, still deduplicated and kept for audit). Should
applying fail, that transaction rolls back and the event is stored again for the worker as any other.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import Headers

from connector import model
from connector.adapters import ParsedWebhook, WebhookReply, WebhookRequest
from connector.chat.inbound import apply_delivery_statuses
from connector.db import insert_id, insert_many_ids
from connector.db.models import WebhookEvent
from connector.errors import NotFound, WebhookRejected
from connector.web.context import runtime
from connector.webhooks import refusals
from connector.webhooks.group_commit import GroupCommit
from connector.work import priorities

if TYPE_CHECKING:
    from connector.connections import ConnectionRef
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

_EVENTS = WebhookEvent.__table__
#: The INSERT of a delivery, built once (its values are bound per call).
_STORE = insert(_EVENTS)


def _connection(rt: Runtime, kind: Literal["shop", "channel"], connection_id: int) -> tuple[ConnectionRef, Any]:
    """The connection's ref and adapter. The connection service reads its row at most once per
    :data:`connector.connections.ROW_TTL` (on SQLite every transaction, reads too, takes the write lock, so a read
    per webhook would queue behind the worker's writes on every delivery); a deletion takes effect at once.
    Raises :class:`NotFound`."""
    return rt.connections.ref(kind, connection_id), rt.connections.adapter(kind, connection_id)


#: What a delivery is answered: a plugin's own reply, or a status and a JSON body.
Answer = WebhookReply | tuple[int, dict[str, Any]]


def _error(status: int, reason: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": reason}


def incoming() -> WebhookRequest:
    """The Flask request being served, as the adapters see a webhook: raw body, headers, query."""
    return WebhookRequest(
        method=request.method,
        url=request.url,
        headers=Headers(list(request.headers.items())),
        query=request.args.to_dict(),
        body=request.get_data(),
    )


def respond(answer: Answer) -> tuple[Response, int] | Response:
    """``answer`` as a Flask response."""
    if isinstance(answer, WebhookReply):
        return Response(answer.body, status=answer.status, content_type=answer.content_type)
    return jsonify(answer[1]), answer[0]


@bp.route("/<adapter_name>/<int:connection_id>", methods=["GET", "POST"])
def receive(adapter_name: str, connection_id: int) -> tuple[Response, int] | Response:
    """A delivery (or a handshake) the WSGI path (:mod:`connector.webhooks.wsgi`) left to Flask: a ``GET``, a
    chunked or oversized body, a test client's request."""
    return respond(handle(runtime(), adapter_name, connection_id, incoming, method=request.method))


def handle(
    rt: Runtime, adapter_name: str, connection_id: int, read: Callable[[], WebhookRequest], *, method: str = "POST"
) -> Answer:
    """Verify, parse and store one delivery to ``/webhooks/<adapter_name>/<connection_id>``; its answer. ``read``
    gives the request (called once the connection is known to exist)."""
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

    raw = read()
    try:
        reply = adapter.handshake(raw)
        if reply is not None:
            return reply
        if method != "POST":
            return _error(405, "webhook deliveries are POST requests")
        if rt.plugins.verify_webhook(ref, raw) is None:
            adapter.verify_webhook(raw)
        parsed = rt.plugins.parse_webhook(ref, raw) or adapter.parse_webhook(raw)
    except WebhookRejected as exc:
        log.info("webhook for %s %s refused: %s", kind, connection_id, exc)
        refusals.count(adapter_name, "signature" if exc.status == 401 else "invalid")
        return _error(exc.status, exc.reason)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, RecursionError) as exc:
        # A payload that does not have the platform's shape (or a number no type holds) is the sender's problem,
        # not a 500.
        log.info("webhook for %s %s malformed: %r", kind, connection_id, exc)
        refusals.count(adapter_name, "invalid")
        return _error(400, f"malformed payload: {type(exc).__name__}: {exc}")

    return store(rt, kind, connection_id, adapter_name, raw, parsed)


def accept(
    rt: Runtime,
    kind: Literal["shop", "channel"],
    connection_id: int,
    adapter_name: str,
    raw: WebhookRequest,
    parsed: ParsedWebhook,
) -> tuple[Response, int]:
    """:func:`store` answered as a Flask response (the Meta app-level URL, :mod:`connector.webhooks.meta_app`)."""
    status, body = store(rt, kind, connection_id, adapter_name, raw, parsed)
    return jsonify(body), status


def store(
    rt: Runtime,
    kind: Literal["shop", "channel"],
    connection_id: int,
    adapter_name: str,
    raw: WebhookRequest,
    parsed: ParsedWebhook,
) -> tuple[int, dict[str, Any]]:
    """Store a verified, parsed delivery for one connection once (a redelivery is answered as a duplicate); the
    status and JSON body to acknowledge it with."""
    now = datetime.now(UTC)
    server = rt.config.server
    stale = refusals.stale_reason(parsed.sent_at, now, server.webhook_max_age_seconds, server.webhook_max_skew_seconds)
    if stale is not None:
        log.warning("webhook for %s %s refused: %s", kind, connection_id, stale)
        refusals.count(adapter_name, "replay")
        return _error(400, stale)

    delivery_id = parsed.delivery_id[:255]
    statuses_only = (
        kind == "channel"
        and bool(parsed.events)
        and all(isinstance(item, model.DeliveryStatus) for item in parsed.events)
    )
    # A plain INSERT (no ORM object to track, no statement to build); a status-only delivery goes in as processed,
    # its statuses applied in the same transaction.
    row = dict(
        connection_kind=kind,
        connection_id=connection_id,
        adapter=adapter_name,
        delivery_id=delivery_id,
        topic=parsed.topic[:255],
        method=raw.method,
        url=raw.url,
        headers=dict(raw.headers.items()),
        query=dict(raw.query),
        body=raw.body,
        status="processed" if statuses_only else "received",
        received_at=now,
        processed_at=now if statuses_only else None,
    )
    try:
        event_id, queued = _writer(rt).submit((connection_id, row, parsed.events if statuses_only else None))
    except IntegrityError:
        same = (
            (_EVENTS.c.connection_kind == kind)
            & (_EVENTS.c.connection_id == connection_id)
            & (_EVENTS.c.delivery_id == delivery_id)
        )
        with rt.db.session() as session:
            session.execute(update(_EVENTS).where(same).values(duplicates=_EVENTS.c.duplicates + 1))
            first = session.scalar(select(_EVENTS.c.id).where(same))
        return 200, {"status": "duplicate", "id": first}
    if queued:
        rt.queue.notify()
    return 200, {"status": "accepted", "id": event_id}


#: A delivery to store: its connection id, its row, and its statuses when it is status-only (applied in place).
_Item = tuple[int, dict[str, Any], list[Any] | None]
_writers: weakref.WeakKeyDictionary[Runtime, GroupCommit[_Item, tuple[int, bool]]] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def _writer(rt: Runtime) -> GroupCommit[_Item, tuple[int, bool]]:
    """The runtime's group commit (:mod:`connector.webhooks.group_commit`): concurrent deliveries share a commit."""
    with _writers_lock:
        writer = _writers.get(rt)
        if writer is None:
            writer = GroupCommit(lambda items: _store_together(rt, items), lambda item: _store(rt, *item))
            _writers[rt] = writer
        return writer


def _store_together(rt: Runtime, items: list[_Item]) -> list[tuple[int, bool]]:
    """Store every delivery of ``items`` in one transaction (see :func:`_store` for one): their rows in one INSERT,
    the statuses of the status-only ones applied together per connection (in arrival order), a processing task for
    each of the others. Raises, storing nothing, if any of them fails (a duplicate delivery id, statuses that
    cannot be applied)."""
    with rt.db.session() as session:
        if len(items) == 1:
            ids = [insert_id(session, _STORE, items[0][1])]
        else:  # on the session's connection: Core rows need none of the ORM's execution
            ids = insert_many_ids(session.connection(), _EVENTS, [row for _, row, _ in items])
        statuses: dict[int, list[Any]] = {}
        for connection_id, _, item_statuses in items:
            if item_statuses is not None:
                statuses.setdefault(connection_id, []).extend(item_statuses)
        for connection_id, together in statuses.items():
            apply_delivery_statuses(session, connection_id, together, rt)
        # The others' processing tasks: one INSERT per priority (a customer's message before a shop's change).
        by_priority: dict[int, list[dict[str, Any]]] = {}
        for (_, row, item_statuses), event_id in zip(items, ids, strict=True):
            if item_statuses is None:
                by_priority.setdefault(_priority(row), []).append({"event_id": event_id})
        for priority, many_args in by_priority.items():
            rt.queue.enqueue_many("webhook.process", many_args, session=session, priority=priority)
    return [(event_id, item_statuses is None) for (_, _, item_statuses), event_id in zip(items, ids, strict=True)]


def _priority(row: dict[str, Any]) -> int:
    # A customer's message outranks a shop's change: a burst of shop webhooks must not delay chat replies.
    return priorities.CHAT if row["connection_kind"] == "channel" else priorities.SHOP_WEBHOOK


def _enqueue_processing(rt: Runtime, session: Any, event_id: int, row: dict[str, Any]) -> None:
    rt.queue.enqueue("webhook.process", {"event_id": event_id}, session=session, priority=_priority(row))


class _NotApplied(Exception):
    """Applying a status-only delivery's statuses failed (the transaction that stored it rolls back)."""


def _store(rt: Runtime, connection_id: int, store: dict[str, Any], statuses: list[Any] | None) -> tuple[int, bool]:
    """Store a delivery: with ``statuses`` (a status-only delivery) stored as processed with its statuses applied in
    the same transaction, otherwise (or should applying fail) with a ``webhook.process`` task for the worker. Returns
    the event id and whether a task was queued. Raises ``IntegrityError`` for a delivery id stored before."""
    if statuses is not None:
        try:
            with rt.db.session() as session:
                event_id = insert_id(session, _STORE, store)
                try:
                    apply_delivery_statuses(session, connection_id, statuses, rt)
                except Exception as exc:
                    raise _NotApplied from exc
            return int(event_id), False
        except _NotApplied:
            # No savepoint per delivery (most of a fan-out's webhooks are statuses): the rare failure rolls the whole
            # transaction back, and the delivery is stored again below for the worker to process as any other.
            log.exception("channel %s: applying a status webhook's statuses failed; the worker will", connection_id)
            store = {**store, "status": "received", "processed_at": None}
    with rt.db.session() as session:
        event_id = insert_id(session, _STORE, store)
        _enqueue_processing(rt, session, int(event_id), store)
    return int(event_id), True
