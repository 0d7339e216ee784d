"""The worker's half of webhooks: turn a stored delivery into actions.

Shop events add their products to the shop's waiting targeted catalog sync and fire order hooks; channel events store contacts and
inbound messages (once per message id) and update the outbox from delivery statuses.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import Headers

from connector import model
from connector.adapters import WebhookRequest
from connector.chat import identity, inbound
from connector.db import dml, insert_id
from connector.db.models import InboundMessage, WebhookEvent
from connector.errors import NotFound
from connector.model import ShopEvent, ShopEventKind
from connector.notify import billing, portfolio, signals
from connector.onboarding import lifecycle
from connector.serialization import to_json
from connector.sync.targeted import enqueue_targeted_sync

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.dml import Update

    from connector.runtime import Runtime
    from connector.work.registry import TaskContext, TaskRegistry

log = logging.getLogger(__name__)


_EVENTS = WebhookEvent.__table__
_MESSAGES = InboundMessage.__table__
_STORE_MESSAGE = insert(_MESSAGES)

#: What processing needs of a stored delivery: plain columns (no ORM object), one statement built once.
_EVENT = select(
    _EVENTS.c.status,
    _EVENTS.c.connection_kind,
    _EVENTS.c.connection_id,
    _EVENTS.c.method,
    _EVENTS.c.url,
    _EVENTS.c.headers,
    _EVENTS.c.query,
    _EVENTS.c.body,
).where(_EVENTS.c.id == bindparam("event_id"))


def _process(ctx: TaskContext, event_id: int) -> None:
    rt = ctx.runtime
    processed = update(_EVENTS).where(_EVENTS.c.id == event_id).values(status="processed", error=None)
    # A channel event is read, parsed and stored in ONE transaction: its contacts, messages and statuses, each new
    # message's answer queued, and the event marked processed (on SQLite each transaction queues for the write
    # lock and syncs the disk; parsing is CPU only). Then connector_inbound_message for each new message.
    with rt.db.session() as session:
        event = session.execute(_EVENT, {"event_id": event_id}).first()
        if event is None:
            return
        # Processed, yet its task runs again: an earlier run stored everything and then died, or a hook raised,
        # before the task was done. The customer messages' hooks may not have run: run them again (below). Once
        # per message id is what hook implementations dedupe on (the conversation enqueues with an idempotency key).
        rerun = event.status == "processed"
        if rerun and (event.connection_kind != "channel" or ctx.task.attempts <= 1):
            return
        kind, connection_id = event.connection_kind, event.connection_id
        stored: list[tuple[model.Inbound, int, bool]] = []
        if kind == "channel" and not rerun:
            parsed = _parse(rt, event, session)
            stored = _store_channel_events(rt, session, connection_id, parsed.events, processed)
    if any(queued for _message, _id, queued in stored):
        rt.queue.notify()
    if kind != "channel" or rerun:
        parsed = _parse(rt, event)
    if kind == "shop":
        handle_shop_events(rt, connection_id, parsed.events)
        with rt.db.session() as session:
            session.execute(processed.values(processed_at=datetime.now(UTC)))
        return
    if rerun:
        found = _stored_earlier(rt, connection_id, [item for item in parsed.events if isinstance(item, model.Inbound)])
        stored = [(message, inbound_id, False) for message, inbound_id in found]
    for message, inbound_id, answer_queued in stored:
        _stored.ids = (connection_id, message.message_id, inbound_id, answer_queued)
        try:
            rt.plugins.inbound_message(rt, connection_id, message)
        finally:
            _stored.ids = None


def _parse(rt: Runtime, event: Any, session: Session | None = None) -> Any:
    """The stored delivery's canonical events (plugins' ``connector_parse_webhook`` first, then the adapter).
    ``session``: the transaction the caller is in (the connection is read there when its cached row is old)."""
    raw = WebhookRequest(
        method=event.method,
        url=event.url,
        headers=Headers(list(event.headers.items())),
        query=event.query,
        body=event.body,
    )
    ref = rt.connections.ref(event.connection_kind, event.connection_id, session)
    adapter = rt.connections.adapter(event.connection_kind, event.connection_id, session)
    return rt.plugins.parse_webhook(ref, raw) or adapter.parse_webhook(raw)


def _store_channel_events(
    rt: Runtime, session: Session, connection_id: int, events: list[Any], processed: Update
) -> list[tuple[model.Inbound, int, bool]]:
    """Contacts, messages and statuses, each new message's answer queued, and the event marked processed
    (``processed``), in ``session``'s transaction: the messages stored now, with their row ids and whether their
    answer was queued."""
    from connector.conversation import engine

    stored: list[tuple[model.Inbound, int, bool]] = []
    for item in events:
        if isinstance(item, model.DeliveryStatus):
            inbound.apply_delivery_status(rt, connection_id, item, session=session)
        elif isinstance(item, model.ConsentSignal):
            signals.apply_consent_signal(session, connection_id, item)
        elif isinstance(item, model.MessagingLimitSignal):
            portfolio.store_limit(session, rt, connection_id, item.reach_limit, source="webhook", raw=item.raw)
        elif isinstance(item, model.TemplateCategoryUpdate):
            billing.record_category_change(session, connection_id, item)
        elif isinstance(item, model.Inbound):
            inbound_id = _store_inbound(session, connection_id, item)
            if inbound_id is not None:
                # The answer's task commits with the message: no transaction of its own in the hook.
                stored.append((item, inbound_id, engine.queue_answer(rt, session, inbound_id)))
    session.execute(processed.values(processed_at=datetime.now(UTC)))
    return stored


def _stored_earlier(rt: Runtime, connection_id: int, messages: list[model.Inbound]) -> list[tuple[model.Inbound, int]]:
    """The customer messages of an event stored by an earlier run, with their row ids."""
    if not messages:
        return []
    with rt.db.session() as session:
        found = session.execute(
            select(InboundMessage.message_id, InboundMessage.id).where(
                InboundMessage.channel_connection_id == connection_id,
                InboundMessage.message_id.in_([m.message_id for m in messages]),
            )
        )
        ids = {message_id: row_id for message_id, row_id in found}
    return [(message, ids[message.message_id]) for message in messages if message.message_id in ids]


#: The message whose ``connector_inbound_message`` hook runs in this thread, with its row id (see
#: :func:`stored_inbound_id`).
_stored = threading.local()


def stored_inbound_id(channel_connection_id: int, message_id: str) -> int | None:
    """The ``inbound_messages`` row id of the message whose ``connector_inbound_message`` hook this thread is
    running, when this module stored it; ``None`` otherwise (the hook implementation looks it up)."""
    ids = getattr(_stored, "ids", None)
    if ids is not None and ids[0] == channel_connection_id and ids[1] == message_id:
        return int(ids[2])
    return None


def answer_queued(channel_connection_id: int, message_id: str) -> bool:
    """Whether the message whose ``connector_inbound_message`` hook this thread is running had its
    ``conversation.handle`` task queued in the transaction that stored it (the hook then has nothing to queue)."""
    ids = getattr(_stored, "ids", None)
    return ids is not None and ids[0] == channel_connection_id and ids[1] == message_id and bool(ids[3])


def _store_inbound(session: Session, channel_id: int, message: model.Inbound) -> int | None:
    """Store a customer message and its contact (inside the caller's transaction): the new row's id, or ``None``
    when the channel delivered it before."""
    received = message.timestamp or datetime.now(UTC)
    if isinstance(message, model.InboundNumberChange):
        # WhatsApp telling that a customer changed number or id: no message from them (it opens no window), and
        # about someone we never talked to there is nothing to move.
        if inbound.find_contact_in(session, channel_id, message.sender) is None:
            log.info("channel %s: %s for a customer we do not know; ignored", channel_id, message.type)
            return None
        contact_id = inbound.upsert_contact_in(session, channel_id, message.sender, None)
    else:
        # The contact as every path upserts it (one source of truth for names, locale and the 24-hour window).
        contact_id = inbound.upsert_contact_in(session, channel_id, message.sender, received)
    try:
        with session.begin_nested():
            inbound_id = insert_id(
                session,
                _STORE_MESSAGE,
                {
                    "channel_connection_id": channel_id,
                    "contact_id": contact_id,
                    "message_id": message.message_id,
                    "type": type(message).__name__,
                    "data": to_json(message),
                    "received_at": received,
                },
            )
    except IntegrityError:
        return None  # the channel redelivered it
    _apply_to_history(session, channel_id, contact_id, message, received)
    return inbound_id


def _apply_to_history(
    session: Session, channel_id: int, contact_id: int, message: model.Inbound, received: datetime
) -> None:
    """What a message does to what was said before: an edit or an unsend marks the message it names (which keeps its
    first wording), a number change moves the contact (:mod:`connector.chat.identity`)."""
    if isinstance(message, model.InboundEdit | model.InboundUnsend):
        column = "edited_at" if isinstance(message, model.InboundEdit) else "deleted_at"
        marked = dml(
            session,
            update(_MESSAGES)
            .where(
                _MESSAGES.c.channel_connection_id == channel_id,
                _MESSAGES.c.message_id == message.original_message_id,
            )
            .values({column: received}),
        ).rowcount
        if not marked:
            log.info("channel %s: %s of a message never stored (%s)", channel_id, column, message.original_message_id)
    elif isinstance(message, model.InboundNumberChange):
        identity.change_number(session, contact_id, message.new_phone, message.new_user_id)


def handle_shop_events(rt: Runtime, shop_id: int, events: list[ShopEvent]) -> None:
    """Act on canonical shop events: catalog changes join the shop's waiting targeted sync, order changes fire
    hooks."""
    catalog_ids: list[str] = []
    for event in events:
        if event.kind in (ShopEventKind.PRODUCT_CHANGED, ShopEventKind.PRODUCT_DELETED, ShopEventKind.STOCK_CHANGED):
            ids = [event.object_id, *event.variant_ids]
            # Parsers check their ids; one that did not must not poison the sync it starts through all retries.
            kept = [i for i in ids if isinstance(i, str) and i]
            catalog_ids.extend(kept)
            if len(kept) < len(ids):
                log.warning("shop connection %s: %s event with ids that are no strings: %r", shop_id, event.kind, ids)
        elif event.kind in (ShopEventKind.ORDER_CHANGED, ShopEventKind.FULFILLMENT_CHANGED):
            try:
                order = event.order or rt.connections.shop_adapter(shop_id).get_order(event.object_id)
            except NotFound as exc:
                # Deleted since, or never there: retrying cannot help; whatever waits on it stops once.
                log.warning(
                    "shop connection %s: order %r of a webhook is not in the shop; treated as deleted: %s",
                    shop_id,
                    event.object_id,
                    exc,
                )
                rt.plugins.order_deleted(rt, shop_id, event.object_id)
                continue
            rt.plugins.order_status_changed(rt, shop_id, order, event)
        elif event.kind is ShopEventKind.CHECKOUT_CHANGED:
            if event.checkout is not None:
                from connector.notify import recovery

                recovery.on_checkout(rt, shop_id, event.checkout)
        elif event.kind is ShopEventKind.ORDER_DELETED:
            # The body names only the id (WooCommerce's order.deleted): nothing to fetch.
            rt.plugins.order_deleted(rt, shop_id, event.object_id)
        elif event.kind is ShopEventKind.APP_UNINSTALLED:
            log.warning("shop connection %s: the app was uninstalled; disabling the connection", shop_id)
            lifecycle.set_state(
                rt, shop_id, enabled=False, note=lifecycle.note("The app was uninstalled from the shop")
            )
        elif event.kind in _PRIVACY:
            from connector.privacy import shop_requests

            if event.kind is ShopEventKind.SHOP_REDACT:
                shop_requests.redact_shop(rt, shop_id)
            elif event.kind is ShopEventKind.CUSTOMER_REDACT:
                shop_requests.redact_customer(rt, shop_id, event.customer or {})
            else:
                shop_requests.note_data_request(rt, shop_id, event.customer or {})
    if catalog_ids:
        # Coalesced: a burst of webhooks for a few products makes one waiting sync per shop, not one per delivery.
        enqueue_targeted_sync(rt, shop_id, catalog_ids)


_PRIVACY = (ShopEventKind.CUSTOMER_DATA_REQUEST, ShopEventKind.CUSTOMER_REDACT, ShopEventKind.SHOP_REDACT)


def _mark_failed(ctx: TaskContext, event_id: int, error: str) -> None:
    """Record the error; an event already stored and processed stays ``processed`` (only a hook failed: the task's
    next run fires the hooks again)."""
    with ctx.runtime.db.session() as session:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id)
            .values(
                status=case((WebhookEvent.status == "processed", "processed"), else_="failed"),
                error=error,
            )
        )


def _process_task(ctx: TaskContext, event_id: int) -> None:
    try:
        _process(ctx, event_id)
    except Exception as exc:
        _mark_failed(ctx, event_id, f"{type(exc).__name__}: {exc}")
        raise


def register(tasks: TaskRegistry) -> None:
    tasks.register("webhook.process", _process_task)
