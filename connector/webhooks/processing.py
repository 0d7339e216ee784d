"""The worker's half of webhooks: turn a stored delivery into actions.

Shop events enqueue targeted catalog syncs and fire order hooks; channel events store contacts and
inbound messages (once per message id) and update the outbox from delivery statuses.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from werkzeug.datastructures import Headers

from connector import model
from connector.adapters import WebhookRequest
from connector.chat import inbound
from connector.db.models import ShopConnection, WebhookEvent
from connector.model import ShopEvent, ShopEventKind

if TYPE_CHECKING:
    from connector.runtime import Runtime
    from connector.work.registry import TaskContext, TaskRegistry

log = logging.getLogger(__name__)


def _process(ctx: TaskContext, event_id: int) -> None:
    rt = ctx.runtime
    with rt.db.session() as session:
        event = session.get(WebhookEvent, event_id)
        if event is None or event.status == "processed":
            return  # a second run of this task after a crash: already done
    raw = WebhookRequest(
        method=event.method,
        url=event.url,
        headers=Headers(list(event.headers.items())),
        query=event.query,
        body=event.body,
    )
    ref = rt.connections.ref(event.connection_kind, event.connection_id)
    if event.connection_kind == "shop":
        adapter = rt.connections.shop_adapter(event.connection_id)
    else:
        adapter = rt.connections.channel_adapter(event.connection_id)
    parsed = rt.plugins.parse_webhook(ref, raw) or adapter.parse_webhook(raw)
    if event.connection_kind == "shop":
        handle_shop_events(rt, event.connection_id, parsed.events)
    else:
        for item in parsed.events:
            if isinstance(item, model.DeliveryStatus):
                inbound.apply_delivery_status(rt, event.connection_id, item)
            elif isinstance(item, model.Inbound):
                inbound.receive(rt, event.connection_id, item)
    with rt.db.session() as session:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id)
            .values(status="processed", processed_at=datetime.now(UTC), error=None)
        )


def handle_shop_events(rt: Runtime, shop_id: int, events: list[ShopEvent]) -> None:
    """Act on canonical shop events: catalog changes become one targeted sync, order changes fire hooks."""
    catalog_ids: list[str] = []
    for event in events:
        if event.kind in (ShopEventKind.PRODUCT_CHANGED, ShopEventKind.PRODUCT_DELETED, ShopEventKind.STOCK_CHANGED):
            catalog_ids.extend([event.object_id, *event.variant_ids])
        elif event.kind in (ShopEventKind.ORDER_CHANGED, ShopEventKind.FULFILLMENT_CHANGED):
            order = event.order or rt.connections.shop_adapter(shop_id).get_order(event.object_id)
            rt.plugins.order_status_changed(rt, shop_id, order, event)
        elif event.kind is ShopEventKind.APP_UNINSTALLED:
            log.warning("shop connection %s: the app was uninstalled; disabling the connection", shop_id)
            with rt.db.session() as session:
                session.execute(update(ShopConnection).where(ShopConnection.id == shop_id).values(enabled=False))
    if catalog_ids:
        rt.queue.enqueue(
            "catalog.sync",
            {
                "shop_connection_id": shop_id,
                "mode": "items",
                "trigger": "webhook",
                "variant_ids": sorted(set(catalog_ids)),
            },
            priority=20,
        )


def _mark_failed(ctx: TaskContext, event_id: int, error: str) -> None:
    with ctx.runtime.db.session() as session:
        session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id).values(status="failed", error=error))


def _process_task(ctx: TaskContext, event_id: int) -> None:
    try:
        _process(ctx, event_id)
    except Exception as exc:
        _mark_failed(ctx, event_id, f"{type(exc).__name__}: {exc}")
        raise


def register(tasks: TaskRegistry) -> None:
    tasks.register("webhook.process", _process_task)
