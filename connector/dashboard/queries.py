"""Read-only queries behind the dashboard pages, on the core tables (and the notify/conversation tables when present)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from connector.db.models import (
    CatalogItem,
    ChannelConnection,
    Contact,
    InboundMessage,
    JobRun,
    OutboundMessage,
    ShopConnection,
    ShopVariant,
    SyncRun,
    Task,
    WebhookEvent,
)

if TYPE_CHECKING:
    from connector.runtime import Runtime

WINDOW = timedelta(hours=24)
#: Outbox states a message passes through, in order (for the timeline).
MESSAGE_STATES = ("pending", "sending", "sent", "delivered", "read")


def start_of_today() -> datetime:
    """Midnight UTC today: "today" on the overview."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def message_cost(rt: Runtime, row: OutboundMessage) -> float:
    """Estimated cost of one outbox message: business-initiated templates cost, replies in the window are free."""
    if row.status in ("failed", "skipped", "pending", "deferred"):
        return 0.0
    is_template = (row.payload or {}).get("__type__") == "TemplateMessage"
    return rt.config.dashboard.template_message_cost if is_template else 0.0


@dataclass(slots=True)
class Overview:
    """Numbers and lists for the overview page."""

    shops: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    messages_today: dict[str, int]
    cost_today: float
    orders_today: int
    webhooks_today: int
    queue: dict[str, int]
    connections: int


def overview(rt: Runtime) -> Overview:
    """Sync health per shop, the latest errors, and today's messages, cost and orders."""
    today = start_of_today()
    with rt.db.session() as session:
        shops = []
        for shop in session.scalars(select(ShopConnection).order_by(ShopConnection.id)):
            last = session.scalars(
                select(SyncRun).where(SyncRun.shop_connection_id == shop.id).order_by(SyncRun.id.desc()).limit(1)
            ).first()
            items = dict(
                session.execute(
                    select(CatalogItem.status, func.count())
                    .join(ChannelConnection, ChannelConnection.id == CatalogItem.channel_connection_id)
                    .where(ChannelConnection.shop_connection_id == shop.id)
                    .group_by(CatalogItem.status)
                ).all()
            )
            shops.append({"shop": shop, "last": last, "items": items})
        errors: list[dict[str, Any]] = []
        for run in session.scalars(
            select(SyncRun).where(SyncRun.status == "failed").order_by(SyncRun.id.desc()).limit(5)
        ):
            errors.append(
                {
                    "when": run.finished_at or run.started_at,
                    "what": f"sync run {run.id}",
                    "detail": "; ".join(run.errors or []),
                }
            )
        for task in session.scalars(select(Task).where(Task.status == "failed").order_by(Task.id.desc()).limit(5)):
            errors.append(
                {
                    "when": task.finished_at or task.created_at,
                    "what": f"task {task.kind}",
                    "detail": task.last_error or "",
                }
            )
        for msg in session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.status == "failed")
            .order_by(OutboundMessage.id.desc())
            .limit(5)
        ):
            errors.append(
                {"when": msg.updated_at, "what": f"message {msg.id} to {msg.recipient}", "detail": msg.error or ""}
            )
        for event in session.scalars(
            select(WebhookEvent).where(WebhookEvent.status == "failed").order_by(WebhookEvent.id.desc()).limit(5)
        ):
            errors.append(
                {
                    "when": event.received_at,
                    "what": f"webhook {event.adapter} {event.topic}",
                    "detail": event.error or "",
                }
            )
        errors.sort(key=lambda e: e["when"] or today, reverse=True)
        today_rows = list(session.scalars(select(OutboundMessage).where(OutboundMessage.created_at >= today)))
        by_status: dict[str, int] = {}
        for row in today_rows:
            by_status[row.status] = by_status.get(row.status, 0) + 1
        orders_today = session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.type == "InboundCart", InboundMessage.received_at >= today)
        )
        webhooks_today = session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.received_at >= today)
        )
        connections = (session.scalar(select(func.count()).select_from(ShopConnection)) or 0) + (
            session.scalar(select(func.count()).select_from(ChannelConnection)) or 0
        )
        queue = dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).all())
    return Overview(
        shops=shops,
        errors=errors[:10],
        messages_today=by_status,
        cost_today=round(sum(message_cost(rt, row) for row in today_rows), 2),
        orders_today=orders_today or 0,
        webhooks_today=webhooks_today or 0,
        queue=queue,
        connections=connections,
    )


def catalog_items(rt: Runtime, *, status: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Every shop variant with its catalog item per channel: sync state and the reasons it is not synced."""
    with rt.db.session() as session:
        query = (
            select(ShopVariant, CatalogItem, ChannelConnection)
            .join(CatalogItem, CatalogItem.shop_variant_id == ShopVariant.id, isouter=True)
            .join(ChannelConnection, ChannelConnection.id == CatalogItem.channel_connection_id, isouter=True)
            .order_by(ShopVariant.title, ShopVariant.id)
            .limit(limit)
        )
        if status == "synced":
            query = query.where(CatalogItem.status == "synced")
        elif status == "problem":
            query = query.where((CatalogItem.status.in_(("error", "invalid"))) | (CatalogItem.id.is_(None)))
        rows = []
        for variant, item, channel in session.execute(query).all():
            rows.append({"variant": variant, "item": item, "channel": channel, "why": why_not_synced(variant, item)})
    return rows


def why_not_synced(variant: ShopVariant, item: CatalogItem | None) -> str:
    """A sentence saying why a variant is not (yet) in the catalog as the shop has it, or '' when it is."""
    if not variant.listed:
        return (
            "unpublished or deleted in the shop: removed from the catalog"
            if item is None or item.status != "deleted"
            else ""
        )
    if item is None:
        return "not pushed yet: waiting for the next sync"
    if item.status in ("error", "invalid"):
        reasons = []
        for error in item.errors or []:
            reasons.append(error.get("message", str(error)) if isinstance(error, dict) else str(error))
        prefix = "refused by the catalog" if item.status == "error" else "kept out by our checks"
        return f"{prefix}: {'; '.join(reasons) or 'no reason given'}"
    if item.status == "pending":
        return "sent, waiting for the catalog to confirm"
    if item.source_hash != variant.content_hash:
        return "changed in the shop since the last push: goes out with the next sync"
    return ""


def contacts(rt: Runtime, limit: int = 200) -> list[dict[str, Any]]:
    """Contacts with their channel, window state, and consent and subscriptions when the notify module has them."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        rows = []
        for contact, channel in session.execute(
            select(Contact, ChannelConnection)
            .join(ChannelConnection, ChannelConnection.id == Contact.channel_connection_id)
            .order_by(Contact.id.desc())
            .limit(limit)
        ).all():
            until = contact.last_inbound_at + WINDOW if contact.last_inbound_at else None
            rows.append(
                {
                    "contact": contact,
                    "channel": channel,
                    "window_until": until if until and until > now else None,
                    "consents": extension_rows(session, "consent", contact.id),
                    "subscriptions": extension_rows(session, "subscription", contact.id),
                }
            )
    return rows


def extension_rows(session: Any, kind: str, contact_id: int) -> list[dict[str, Any]]:
    """Rows of another subsystem's table about a contact (``consent``, ``subscription``), if that table exists.

    The notify module defines those tables; the dashboard shows them when they exist without importing the
    module, by finding tables with that word in their name and a ``contact_id`` column in the shared metadata.
    """
    from connector.db.models import Base

    found: list[dict[str, Any]] = []
    for name, table in Base.metadata.tables.items():
        if kind not in name or "contact_id" not in table.c:
            continue
        try:
            result = session.execute(select(table).where(table.c.contact_id == contact_id).limit(50))
        except Exception:  # the table is declared but its migration is not applied yet
            session.rollback()
            continue
        found.extend(dict(row._mapping) | {"_table": name} for row in result)
    return found


def notifications(rt: Runtime, limit: int = 200) -> list[dict[str, Any]]:
    """Outbox messages with their state timeline and estimated cost, newest first."""
    with rt.db.session() as session:
        rows = list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit)))
    result = []
    for row in rows:
        timeline = [("created", row.created_at)]
        if row.sent_at:
            timeline.append(("sent", row.sent_at))
        if row.status not in ("pending", "sent"):
            timeline.append((row.status, row.updated_at))
        result.append({"message": row, "timeline": timeline, "cost": message_cost(rt, row)})
    return result


def orders(rt: Runtime, limit: int = 200) -> list[dict[str, Any]]:
    """Carts customers sent in chat (``InboundCart`` messages), with their lines and total."""
    with rt.db.session() as session:
        found = session.execute(
            select(InboundMessage, Contact)
            .join(Contact, Contact.id == InboundMessage.contact_id)
            .where(InboundMessage.type == "InboundCart")
            .order_by(InboundMessage.id.desc())
            .limit(limit)
        ).all()
    result = []
    for message, contact in found:
        total = Decimal(0)
        currency = ""
        lines = []
        for line in (message.data or {}).get("lines") or []:
            quantity = int(line.get("quantity", 1))
            price = line.get("unit_price") or {}
            amount = Decimal(str(price.get("amount", "0")))
            currency = price.get("currency") or currency
            total += amount * quantity
            lines.append({"id": line.get("variant_external_id", ""), "quantity": quantity, "price": amount})
        result.append({"message": message, "contact": contact, "lines": lines, "total": total, "currency": currency})
    return result


def jobs(rt: Runtime) -> list[dict[str, Any]]:
    """Every scheduled job with its schedule, next tick and last runs (and their tasks' outcome)."""
    from connector.work.scheduler import next_tick_after

    rt.refresh_jobs()
    now = datetime.now(UTC)
    result = []
    with rt.db.session() as session:
        for job in sorted(rt.jobs.jobs.values(), key=lambda j: j.id):
            runs = session.execute(
                select(JobRun, Task)
                .join(Task, Task.id == JobRun.task_id, isouter=True)
                .where(JobRun.job_id == job.id)
                .order_by(JobRun.scheduled_for.desc())
                .limit(5)
            ).all()
            result.append({"job": job, "next": next_tick_after(job, now), "runs": runs})
    return result


def webhook_count(rt: Runtime, kind: str, connection_id: int, since: datetime | None = None) -> int:
    """Webhooks stored for one connection (since a time): the wizard's and the doctor's "received" check."""
    with rt.db.session() as session:
        query = (
            select(func.count())
            .select_from(WebhookEvent)
            .where(WebhookEvent.connection_kind == kind, WebhookEvent.connection_id == connection_id)
        )
        if since is not None:
            query = query.where(WebhookEvent.received_at >= since)
        return session.scalar(query) or 0
