"""Read-only queries behind the dashboard pages, on the core tables (and the notify/conversation tables when present).

Every page query is scoped to what the request's user may see (:mod:`connector.api.scope`): the shops of their
workspace and what belongs to them. Deployment-wide rows (tasks, the queue) are shown to the operator's workspace
only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import false as sa_false
from sqlalchemy import func, or_, select
from sqlalchemy import true as sa_true

from connector import model
from connector.api.scope import channel_visible, connection_visible, current, shop_visible
from connector.dashboard.paging import Listing, Page, cut
from connector.dashboard.templating import is_web_url
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
from connector.i18n.catalogs import N_
from connector.notify import billing
from connector.notify.pricing import SPENT
from connector.serialization import from_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

WINDOW = timedelta(hours=24)
#: How long a referral counts as the source of an order placed in chat (simple last-touch attribution).
ATTRIBUTION_WINDOW = timedelta(days=7)
#: At most this many referral-carrying messages are read for one orders page (newest first).
MAX_REFERRAL_CANDIDATES = 2000
#: Outbox states a message passes through, in order (for the timeline).
MESSAGE_STATES = ("pending", "sending", "sent", "delivered", "read")


def _webhook_visible() -> Any:
    """Stored webhooks of the request's visible connections."""
    return connection_visible(WebhookEvent.connection_kind, WebhookEvent.connection_id)


def start_of_today() -> datetime:
    """Midnight UTC today: "today" on the overview."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def message_cost(rt: Runtime, row: OutboundMessage) -> float:
    """Estimated cost of one outbox message: the rate-card price it was sent with (notifications and chat replies
    alike); rows sent before messages were priced count a template at ``template_message_cost``."""
    if row.status in ("failed", "skipped", "pending", "deferred"):
        return 0.0
    if row.cost is not None:
        return row.cost
    is_template = (row.payload or {}).get("__type__") == "TemplateMessage"
    return rt.config.dashboard.template_message_cost if is_template else 0.0


def cost_days(rt: Runtime, days: int = 7) -> list[dict[str, Any]]:
    """The last ``days`` UTC days: our estimate next to the cost of the pricing Meta reported, and the difference."""
    since = start_of_today() - timedelta(days=days - 1)
    with rt.db.session() as session:
        rows = session.execute(
            select(
                OutboundMessage.sent_at,
                OutboundMessage.category,
                OutboundMessage.country,
                OutboundMessage.cost,
                OutboundMessage.billed_category,
                OutboundMessage.billable,
            ).where(OutboundMessage.sent_at >= since, OutboundMessage.status.in_(SPENT))
        ).all()
    return [day.as_json() for day in reversed(billing.daily(rt.config.notify, [tuple(r) for r in rows]))]


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
        for shop in session.scalars(
            select(ShopConnection).where(shop_visible(ShopConnection.id)).order_by(ShopConnection.id)
        ):
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
            select(SyncRun)
            .where(SyncRun.status == "failed", shop_visible(SyncRun.shop_connection_id))
            .order_by(SyncRun.id.desc())
            .limit(5)
        ):
            errors.append(
                {
                    "when": run.finished_at or run.started_at,
                    "what": f"sync run {run.id}",
                    "detail": "; ".join(run.errors or []),
                }
            )
        operator = current().operator  # tasks are the whole deployment's
        failed_tasks = select(Task).where(Task.status == "failed", sa_true() if operator else sa_false())
        for task in session.scalars(failed_tasks.order_by(Task.id.desc()).limit(5)):
            errors.append(
                {
                    "when": task.finished_at or task.created_at,
                    "what": f"task {task.kind}",
                    "detail": task.last_error or "",
                }
            )
        for msg in session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.status == "failed", channel_visible(OutboundMessage.channel_connection_id))
            .order_by(OutboundMessage.id.desc())
            .limit(5)
        ):
            errors.append(
                {"when": msg.updated_at, "what": f"message {msg.id} to {msg.recipient}", "detail": msg.error or ""}
            )
        for event in session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.status == "failed", _webhook_visible())
            .order_by(WebhookEvent.id.desc())
            .limit(5)
        ):
            errors.append(
                {
                    "when": event.received_at,
                    "what": f"webhook {event.adapter} {event.topic}",
                    "detail": event.error or "",
                }
            )
        errors.sort(key=lambda e: e["when"] or today, reverse=True)
        today_rows = list(
            session.scalars(
                select(OutboundMessage).where(
                    OutboundMessage.created_at >= today, channel_visible(OutboundMessage.channel_connection_id)
                )
            )
        )
        by_status: dict[str, int] = {}
        for row in today_rows:
            by_status[row.status] = by_status.get(row.status, 0) + 1
        orders_today = session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(
                InboundMessage.type == "InboundCart",
                InboundMessage.received_at >= today,
                channel_visible(InboundMessage.channel_connection_id),
            )
        )
        webhooks_today = session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.received_at >= today, _webhook_visible())
        )
        connections = (
            session.scalar(select(func.count()).select_from(ShopConnection).where(shop_visible(ShopConnection.id))) or 0
        ) + (
            session.scalar(
                select(func.count())
                .select_from(ChannelConnection)
                .where(shop_visible(ChannelConnection.shop_connection_id))
            )
            or 0
        )
        queue = dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).all()) if operator else {}
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


def catalog_items(rt: Runtime, *, status: str | None = None, asked: Listing | None = None) -> Page:
    """One page of shop variants (by title) with their catalog item per channel: sync state and the reasons one is
    not synced; searched by title or SKU, filtered by shop."""
    asked = asked or Listing("", None, 1)
    with rt.db.session() as session:
        query = (
            select(ShopVariant, CatalogItem, ChannelConnection, ShopConnection)
            .join(ShopConnection, ShopConnection.id == ShopVariant.shop_connection_id)
            .join(CatalogItem, CatalogItem.shop_variant_id == ShopVariant.id, isouter=True)
            .join(ChannelConnection, ChannelConnection.id == CatalogItem.channel_connection_id, isouter=True)
            .where(shop_visible(ShopVariant.shop_connection_id))
            .order_by(ShopVariant.title, ShopVariant.id, CatalogItem.id)
            .offset(asked.offset)
            .limit(asked.size + 1)
        )
        if status == "synced":
            query = query.where(CatalogItem.status == "synced")
        elif status == "problem":
            query = query.where((CatalogItem.status.in_(("error", "invalid"))) | (CatalogItem.id.is_(None)))
        if asked.query:
            pattern = asked.like()
            query = query.where(
                or_(ShopVariant.title.ilike(pattern, escape="\\"), ShopVariant.sku.ilike(pattern, escape="\\"))
            )
        if asked.shop_id is not None:
            query = query.where(ShopVariant.shop_connection_id == asked.shop_id)
        rows = []
        for variant, item, channel, shop in session.execute(query).all():
            image = (variant.data or {}).get("image_url")
            rows.append(
                {
                    "variant": variant,
                    "item": item,
                    "channel": channel,
                    "shop": shop,
                    "image_url": image if is_web_url(image) else None,
                    "why": why_not_synced(variant, item),
                }
            )
    return cut(rows, asked)


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


def visible_shops(rt: Runtime) -> list[tuple[int, str]]:
    """``(id, name)`` of the shops the request's user may see (the shop filter of the list pages)."""
    with rt.db.session() as session:
        return [
            (shop_id, name)
            for shop_id, name in session.execute(
                select(ShopConnection.id, ShopConnection.name)
                .where(shop_visible(ShopConnection.id))
                .order_by(ShopConnection.name, ShopConnection.id)
            )
        ]


def contacts(rt: Runtime, asked: Listing | None = None) -> Page:
    """One page of contacts (newest first) matching the search (name, phone, channel id) and shop filter, with
    their channel and shop, window state, consent timeline, subscriptions by product name, and where they came
    from."""
    from connector.dashboard.contact_views import consent_timelines, subscriptions

    asked = asked or Listing("", None, 1)
    now = datetime.now(UTC)
    with rt.db.session() as session:
        statement = (
            select(Contact, ChannelConnection, ShopConnection)
            .join(ChannelConnection, ChannelConnection.id == Contact.channel_connection_id)
            .join(ShopConnection, ShopConnection.id == ChannelConnection.shop_connection_id)
            .where(shop_visible(ChannelConnection.shop_connection_id))
        )
        if asked.query:
            pattern = asked.like()
            statement = statement.where(
                or_(
                    Contact.name.ilike(pattern, escape="\\"),
                    Contact.phone.ilike(pattern, escape="\\"),
                    Contact.channel_user_id.ilike(pattern, escape="\\"),
                )
            )
        if asked.shop_id is not None:
            statement = statement.where(ChannelConnection.shop_connection_id == asked.shop_id)
        found = session.execute(statement.order_by(Contact.id.desc()).offset(asked.offset).limit(asked.size + 1)).all()
        ids = [contact.id for contact, _, _ in found]
        first = first_referrals(session, ids)
        timelines = consent_timelines(session, ids)
        wishes = subscriptions(session, ids)
        rows = []
        for contact, channel, shop in found:
            until = contact.last_inbound_at + WINDOW if contact.last_inbound_at else None
            rows.append(
                {
                    "contact": contact,
                    "channel": channel,
                    "shop": shop,
                    "window_until": until if until and until > now else None,
                    # WhatsApp paused marketing to them (131049) until then.
                    "marketing_paused_until": paused
                    if (paused := contact.marketing_paused_until) and paused > now
                    else None,
                    "consent": timelines.get(contact.id, []),
                    "subscriptions": wishes.get(contact.id, []),
                    "came_from": first.get(contact.id),
                }
            )
    return cut(rows, asked)


@dataclass(slots=True)
class Source:
    """Where a customer came from, for the pages: ``kind`` is an English label the template translates (``Ad``,
    ``Post``, ``Link``, ``Product``, ``Other``), ``text`` what the channel named (headline, ref, product)."""

    kind: str
    text: str
    received_at: datetime
    #: Everything the channel said, for the tooltip (full ad id, click id, URL).
    detail: str


def _referral_rows() -> Any:
    """A pre-filter for stored messages that carry a referral object (their data is encrypted, so a flag set when
    they were stored says so). Python then reads and checks each candidate."""
    return InboundMessage.has_referral.is_(True)


def _referral_of(data: Any) -> model.Referral | None:
    """The typed referral of a stored message (rows stored before it was typed hold the channel's dict)."""
    raw = data.get("referral") if isinstance(data, dict) else None
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        referral = from_json(raw) if "__type__" in raw else model.Referral.from_untagged(raw)
    except (TypeError, ValueError, KeyError):
        return None
    return referral if isinstance(referral, model.Referral) else None


def _named(referral: model.Referral, noun: str) -> str:
    """``Spring sale (ad 12021234…)``: the headline (or ref, body) and the shortened id; the full id is in
    :attr:`Source.detail`."""
    name = referral.headline or referral.ref or referral.body or referral.source_url
    identifier = referral.source_id
    short = f"{noun} {identifier if len(identifier) <= 10 else identifier[:8] + '…'}" if identifier else ""
    if name and short:
        return f"{name} ({short})"
    return name or short or noun


def describe_referral(
    referral: model.Referral, received_at: datetime, products: dict[str, ShopVariant] | None = None
) -> Source | None:
    """A referral as one line for the shop owner: ``Ad: Spring sale (ad 12021234…)``, ``Link: ref=newsletter``,
    ``Product: Beanie (BEANIE-RED)``. ``products`` maps retailer ids to the shop's variants, for their titles."""
    kind = referral.source_type.lower()
    detail = "; ".join(
        f"{name}: {value}"
        for name, value in (
            ("source", referral.source_type),
            ("id", referral.source_id),
            ("url", referral.source_url),
            ("ref", referral.ref),
            ("ctwa_clid", referral.ad_click_id),
            ("product", referral.product_retailer_id),
        )
        if value
    )
    if kind in ("ad", "ads") or referral.ad_click_id:
        return Source(N_("Ad"), _named(referral, "ad"), received_at, detail)
    if kind == "post":
        return Source(N_("Post"), _named(referral, "post"), received_at, detail)
    if referral.ref:
        return Source("Link", f"ref={referral.ref}", received_at, detail)
    if referral.product_retailer_id:
        variant = (products or {}).get(referral.product_retailer_id)
        if variant is None:
            return Source(N_("Product"), referral.product_retailer_id, received_at, detail)
        return Source(N_("Product"), f"{variant.title} ({variant.sku or variant.external_id})", received_at, detail)
    if referral.source_type or referral.source_url:
        return Source(N_("Other"), referral.source_type or referral.source_url, received_at, detail)
    return None


def _products(session: Session, referrals: list[tuple[int, model.Referral]]) -> dict[tuple[int, str], ShopVariant]:
    """The shop variants the referrals name, by (channel connection id, retailer id), in one query."""
    wanted = {r.product_retailer_id for _, r in referrals if r.product_retailer_id}
    if not wanted:
        return {}
    found: dict[tuple[int, str], ShopVariant] = {}
    for channel_id, variant in session.execute(
        select(ChannelConnection.id, ShopVariant)
        .join(ShopVariant, ShopVariant.shop_connection_id == ChannelConnection.shop_connection_id)
        .where(
            ChannelConnection.id.in_({channel_id for channel_id, _ in referrals}),
            ShopVariant.external_id.in_(wanted),
        )
    ).all():
        found[(channel_id, variant.external_id)] = variant
    return found


def _sources(
    session: Session, rows: list[tuple[int, int, int, datetime, Any]]
) -> dict[int, tuple[int, datetime, Source]]:
    """Rows ``(message id, contact id, channel id, received_at, data)`` that really carry a referral, described:
    message id -> (contact id, received_at, source)."""
    typed = [(row, referral) for row in rows if (referral := _referral_of(row[4])) is not None]
    products: dict[int, dict[str, ShopVariant]] = {}
    for (channel_id, retailer_id), variant in _products(session, [(row[2], r) for row, r in typed]).items():
        products.setdefault(channel_id, {})[retailer_id] = variant
    result: dict[int, tuple[int, datetime, Source]] = {}
    for (message_id, contact_id, channel_id, received_at, _), referral in typed:
        source = describe_referral(referral, received_at, products.get(channel_id))
        if source is not None:
            result[message_id] = (contact_id, received_at, source)
    return result


#: What :func:`_sources` reads of a message that carries a referral.
_SOURCE_COLUMNS = (
    InboundMessage.id,
    InboundMessage.contact_id,
    InboundMessage.channel_connection_id,
    InboundMessage.received_at,
    InboundMessage.data,
)


def first_referrals(session: Session, contact_ids: list[int]) -> dict[int, Source]:
    """Each contact's first referral (where they first came from), by contact id; contacts without one are absent.

    Reads one message per contact: the earliest that carries a referral object (see :func:`_referral_rows`)."""
    if not contact_ids:
        return {}
    earliest = (
        select(func.min(InboundMessage.id))
        .where(InboundMessage.contact_id.in_(contact_ids), _referral_rows())
        .group_by(InboundMessage.contact_id)
    )
    rows = session.execute(select(*_SOURCE_COLUMNS).where(InboundMessage.id.in_(earliest)))
    return {contact_id: source for contact_id, _, source in _sources(session, list(rows)).values()}


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


def notifications(rt: Runtime, asked: Listing | None = None, kind: str | None = None) -> Page:
    """One page of outbox messages, newest first, with their state timeline, estimated cost and shop; searched by
    recipient, filtered by shop and kind."""
    asked = asked or Listing("", None, 1)
    with rt.db.session() as session:
        statement = (
            select(OutboundMessage, ShopConnection)
            .join(ChannelConnection, ChannelConnection.id == OutboundMessage.channel_connection_id)
            .join(ShopConnection, ShopConnection.id == ChannelConnection.shop_connection_id)
            .where(channel_visible(OutboundMessage.channel_connection_id))
        )
        if asked.query:
            statement = statement.where(OutboundMessage.recipient.ilike(asked.like(), escape="\\"))
        if asked.shop_id is not None:
            statement = statement.where(ChannelConnection.shop_connection_id == asked.shop_id)
        if kind:
            statement = statement.where(OutboundMessage.kind == kind)
        rows = list(
            session.execute(statement.order_by(OutboundMessage.id.desc()).offset(asked.offset).limit(asked.size + 1))
        )
    result = []
    for row, shop in rows:
        timeline = [("created", row.created_at)]
        if row.sent_at:
            timeline.append(("sent", row.sent_at))
        if row.status not in ("pending", "sent"):
            timeline.append((row.status, row.updated_at))
        result.append({"message": row, "shop": shop, "timeline": timeline, "cost": message_cost(rt, row)})
    return cut(result, asked)


def message_kinds(rt: Runtime) -> list[str]:
    """The kinds of message in the visible outbox (the notifications page's kind filter)."""
    with rt.db.session() as session:
        return list(
            session.scalars(
                select(OutboundMessage.kind)
                .where(channel_visible(OutboundMessage.channel_connection_id))
                .group_by(OutboundMessage.kind)
                .order_by(OutboundMessage.kind)
            )
        )


def orders(rt: Runtime, asked: Listing | None = None) -> Page:
    """One page of the carts customers sent in chat (``InboundCart`` messages), newest first, with their lines by
    product name and image, total, shop and source; searched by the customer's name or number, filtered by shop.

    The source is a simple last-touch attribution (not Meta's): the contact's latest referral received up to the
    cart message (the cart's own included), if it is at most :data:`ATTRIBUTION_WINDOW` older than the cart."""
    from connector.dashboard.products import name_of, names

    asked = asked or Listing("", None, 1)
    with rt.db.session() as session:
        statement = (
            select(InboundMessage, Contact, ChannelConnection, ShopConnection)
            .join(Contact, Contact.id == InboundMessage.contact_id)
            .join(ChannelConnection, ChannelConnection.id == InboundMessage.channel_connection_id)
            .join(ShopConnection, ShopConnection.id == ChannelConnection.shop_connection_id)
            .where(InboundMessage.type == "InboundCart", channel_visible(InboundMessage.channel_connection_id))
        )
        if asked.query:
            pattern = asked.like()
            statement = statement.where(
                or_(
                    Contact.name.ilike(pattern, escape="\\"),
                    Contact.phone.ilike(pattern, escape="\\"),
                    Contact.channel_user_id.ilike(pattern, escape="\\"),
                )
            )
        if asked.shop_id is not None:
            statement = statement.where(ChannelConnection.shop_connection_id == asked.shop_id)
        found = session.execute(
            statement.order_by(InboundMessage.id.desc()).offset(asked.offset).limit(asked.size + 1)
        ).all()
        sources = _order_sources(session, [message for message, *_ in found])
        products = names(
            session,
            {
                (shop.id, str(line.get("variant_external_id", "")))
                for message, _, _, shop in found
                for line in (message.data or {}).get("lines") or []
            },
        )
    result = []
    for message, contact, _channel, shop in found:
        total = Decimal(0)
        currency = ""
        lines = []
        for line in (message.data or {}).get("lines") or []:
            quantity = int(line.get("quantity", 1))
            price = line.get("unit_price") or {}
            amount = Decimal(str(price.get("amount", "0")))
            currency = price.get("currency") or currency
            total += amount * quantity
            external_id = str(line.get("variant_external_id", ""))
            lines.append(
                {
                    "id": external_id,
                    "product": name_of(products, shop.id, external_id),
                    "quantity": quantity,
                    "price": amount,
                }
            )
        result.append(
            {
                "message": message,
                "contact": contact,
                "shop": shop,
                "lines": lines,
                "total": total,
                "currency": currency,
                "source": sources.get(message.id),
            }
        )
    return cut(result, asked)


def _order_sources(session: Session, carts: list[InboundMessage]) -> dict[int, Source]:
    """Cart message id -> the source of its conversation (see :func:`orders`), read in one bounded query."""
    if not carts:
        return {}
    earliest = min(cart.received_at for cart in carts) - ATTRIBUTION_WINDOW
    rows = session.execute(
        select(*_SOURCE_COLUMNS)
        .where(
            InboundMessage.contact_id.in_({cart.contact_id for cart in carts}),
            # By the channel's own timestamps, not by arrival: Meta delivers webhooks in no guaranteed order.
            InboundMessage.received_at <= max(cart.received_at for cart in carts),
            InboundMessage.received_at >= earliest,
            _referral_rows(),
        )
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(MAX_REFERRAL_CANDIDATES)
    )
    by_contact: dict[int, list[tuple[datetime, int, Source]]] = {}
    for message_id, (contact_id, received_at, source) in _sources(session, list(rows)).items():
        by_contact.setdefault(contact_id, []).append((received_at, message_id, source))
    for found in by_contact.values():
        found.sort(reverse=True)  # newest first (the channel's time, then arrival): the last touch wins
    result: dict[int, Source] = {}
    for cart in carts:
        for received_at, _, source in by_contact.get(cart.contact_id, []):
            if cart.received_at - ATTRIBUTION_WINDOW <= received_at <= cart.received_at:
                result[cart.id] = source
                break
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
