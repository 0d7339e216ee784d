"""Back-in-stock: subscriptions, and waves of notifications when a variant's stock goes from 0 to above 0.

A wave notifies at most ``ceil(stock x back_in_stock_factor)`` subscribers, first come first served, so 10,000
people are not told about 3 items; while stock and subscribers remain, the next wave follows after
``back_in_stock_wave_interval_seconds``. A subscription ends when it is notified, or after
``back_in_stock_expiry_days``. A subscription made on the web is ``pending`` until the customer confirms it on the
channel (:mod:`connector.notify.double_opt_in`); waves only see active ones. Each chunk of a wave marks its subscriptions ``notified`` and adds their outbox
rows in one transaction, so a crash mid-wave neither loses nor repeats a notification. The rows of a chunk are
sent by ``message.send_batch`` tasks (enqueued in that same transaction), not one task per message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update

from connector.chat.messages import enqueue_batches
from connector.db import dml
from connector.db.models import ShopVariant
from connector.db.models_notify import BackInStockSubscription
from connector.notify.consent import record_opt_in
from connector.notify.contacts import chat_languages, contacts_by_id
from connector.notify.outbox import QUEUE_CHUNK, queue_notifications

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

WAVE_TASK = "notify.back_in_stock_wave"


def active_key(contact_id: int, shop_connection_id: int, variant_external_id: str) -> str:
    """What makes an active subscription unique: one per contact, shop and variant."""
    return f"{contact_id}:{shop_connection_id}:{variant_external_id}"


def purpose_of(rt: Runtime) -> str:
    """The consent purpose back-in-stock messages need (``marketing`` unless configured as utility)."""
    return rt.config.notify.back_in_stock_category


def subscribe(
    rt: Runtime,
    *,
    contact_id: int,
    shop_connection_id: int,
    variant_external_id: str,
    source: str,
    consent_text: str | None = None,
    on_channel: bool = False,
) -> int:
    """Subscribe a contact to a variant; returns the subscription id (the existing one if already subscribed).

    With ``consent_text`` (what the customer agreed to), the opt-in is recorded in the same transaction;
    ``on_channel``: the customer asked in chat (see :func:`connector.notify.consent.record_opt_in`, which raises
    :class:`~connector.notify.consent.ConsentRefused` for anyone else after the customer's STOP)."""
    key = active_key(contact_id, shop_connection_id, variant_external_id)
    now = datetime.now(UTC)
    with rt.db.session() as session:
        if consent_text:
            record_opt_in(
                rt,
                contact_id=contact_id,
                purpose=purpose_of(rt),
                source=source,
                text=consent_text,
                session=session,
                on_channel=on_channel,
            )
        existing = session.scalar(select(BackInStockSubscription.id).where(BackInStockSubscription.active_key == key))
        if existing is not None:
            return existing
        row = BackInStockSubscription(
            contact_id=contact_id,
            shop_connection_id=shop_connection_id,
            variant_external_id=variant_external_id,
            status="active",
            active_key=key,
            source=source,
            created_at=now,
            expires_at=now + timedelta(days=rt.config.notify.back_in_stock_expiry_days),
        )
        session.add(row)
        session.flush()
        return row.id


def subscribe_pending(
    session: Session,
    *,
    contact_id: int,
    shop_connection_id: int,
    variant_external_id: str,
    source: str,
    request_id: int,
    expires_at: datetime,
) -> int:
    """A subscription waiting for its consent request's confirmation (the same one when asked twice); it expires
    with the request. Returns its id."""
    existing = session.scalar(
        select(BackInStockSubscription.id).where(
            BackInStockSubscription.consent_request_id == request_id,
            BackInStockSubscription.shop_connection_id == shop_connection_id,
            BackInStockSubscription.variant_external_id == variant_external_id,
            BackInStockSubscription.status == "pending",
        )
    )
    if existing is not None:
        return existing
    row = BackInStockSubscription(
        contact_id=contact_id,
        shop_connection_id=shop_connection_id,
        variant_external_id=variant_external_id,
        status="pending",
        source=source,
        created_at=datetime.now(UTC),
        expires_at=expires_at,
        consent_request_id=request_id,
    )
    session.add(row)
    session.flush()
    return row.id


def cancel(rt: Runtime, contact_id: int) -> int:
    """End every active or pending subscription of a contact (STOP); returns how many ended."""
    with rt.db.session() as session:
        return dml(
            session,
            update(BackInStockSubscription)
            .where(
                BackInStockSubscription.contact_id == contact_id,
                BackInStockSubscription.status.in_(("active", "pending")),
            )
            .values(status="cancelled", active_key=None, ended_at=datetime.now(UTC)),
        ).rowcount


def on_stock_changed(
    rt: Runtime, shop_connection_id: int, variant_external_id: str, old: int | None, new: int | None
) -> None:
    """Start a wave when a variant comes back (0 -> above 0)."""
    if not rt.config.notify.back_in_stock_enabled or old != 0 or not new or new <= 0:
        return
    start_wave(rt, shop_connection_id, variant_external_id)


def start_wave(rt: Runtime, shop_connection_id: int, variant_external_id: str, *, delay: float = 0) -> int | None:
    """Enqueue a wave (at most one per variant per wave interval)."""
    interval = rt.config.notify.back_in_stock_wave_interval_seconds
    due = datetime.now(UTC) + timedelta(seconds=delay)
    bucket = int(due.timestamp()) // interval
    return rt.queue.enqueue(
        WAVE_TASK,
        {
            "shop_connection_id": shop_connection_id,
            "variant_external_id": variant_external_id,
            "started": due.isoformat(),
        },
        delay=delay,
        priority=50,
        idempotency_key=f"bis-wave:{shop_connection_id}:{variant_external_id}:{bucket}",
    )


def _variables(variant: ShopVariant | None, variant_external_id: str) -> dict[str, Any]:
    data = variant.data if variant is not None else {}
    price = data.get("sale_price") or data.get("price") or {}
    return {
        "title": variant.title if variant is not None else variant_external_id,
        "price": price.get("amount"),
        "currency": price.get("currency") or "EUR",
        "image_url": data.get("image_url"),
        "link": data.get("link"),
        "variant_id": variant_external_id,
    }


def _expire(session: Session, now: datetime) -> None:
    session.execute(
        update(BackInStockSubscription)
        .where(BackInStockSubscription.status == "active", BackInStockSubscription.expires_at < now)
        .values(status="expired", active_key=None, ended_at=now)
    )


#: A notified subscription: ended, with the outbox row that told it (one executemany per chunk).
_SUBSCRIPTIONS = BackInStockSubscription.__table__
_NOTIFIED = (
    update(_SUBSCRIPTIONS)
    .where(_SUBSCRIPTIONS.c.id == bindparam("b_id"))
    .values(status="notified", active_key=None, ended_at=bindparam("b_now"), outbound_message_id=bindparam("b_message"))
)


def run_wave(
    rt: Runtime,
    shop_connection_id: int,
    variant_external_id: str,
    started: str,
    heartbeat: Callable[[], None] | None = None,
) -> int:
    """Notify the next ``stock x factor`` subscribers; returns how many were queued by this run."""
    settings = rt.config.notify
    since = datetime.fromisoformat(started)
    queued = 0
    expired = False
    while True:
        now = datetime.now(UTC)
        with rt.db.session() as session:
            if not expired:
                # Once per run, not per chunk: no index serves the UPDATE (it reads every active subscription of
                # every shop), and a chunk holds SQLite's write lock the senders wait for (a subscription that
                # expires during the run was valid when the wave started).
                _expire(session, now)
                expired = True
            variant = session.scalar(
                select(ShopVariant).where(
                    ShopVariant.shop_connection_id == shop_connection_id,
                    ShopVariant.external_id == variant_external_id,
                )
            )
            stock = variant.stock_quantity if variant is not None else None
            if variant is not None and stock is not None and stock <= 0:
                return queued
            quota = math.ceil(stock * settings.back_in_stock_factor) if stock is not None else None
            done = session.scalar(
                select(func.count(BackInStockSubscription.id)).where(
                    BackInStockSubscription.shop_connection_id == shop_connection_id,
                    BackInStockSubscription.variant_external_id == variant_external_id,
                    BackInStockSubscription.status == "notified",
                    BackInStockSubscription.ended_at >= since,
                )
            )
            room = QUEUE_CHUNK if quota is None else min(QUEUE_CHUNK, quota - (done or 0))
            if room <= 0:
                break
            # Plain rows (id, contact), marked notified below with one executemany UPDATE: no ORM objects to track
            # while the chunk holds the write lock.
            subs = list(
                session.execute(
                    select(BackInStockSubscription.id, BackInStockSubscription.contact_id)
                    .where(
                        BackInStockSubscription.shop_connection_id == shop_connection_id,
                        BackInStockSubscription.variant_external_id == variant_external_id,
                        BackInStockSubscription.status == "active",
                    )
                    .order_by(BackInStockSubscription.id)
                    .limit(room)
                )
            )
            if not subs:
                return queued
            variables = _variables(variant, variant_external_id)
            contacts = contacts_by_id(session, {s.contact_id for s in subs})
            languages = chat_languages(session, list(contacts))
            created = queue_notifications(
                rt,
                session,
                kind="back_in_stock",
                purpose=purpose_of(rt),
                variables=variables,
                recipients=[(contacts[sub.contact_id], f"bis:{sub.id}", languages.get(sub.contact_id)) for sub in subs],
            )
            to_send: dict[int, list[tuple[int, str]]] = {}
            notified: list[dict[str, Any]] = []
            for sub in subs:
                contact = contacts[sub.contact_id]
                message_id = created.get(f"bis:{sub.id}")
                if message_id is not None:
                    to_send.setdefault(contact.channel_connection_id, []).append((message_id, contact.channel_user_id))
                notified.append({"b_id": sub.id, "b_message": message_id, "b_now": now})
            session.execute(_NOTIFIED, notified)
            for channel_id, messages in to_send.items():
                enqueue_batches(rt, session, channel_id, messages, priority=45)
            queued += len(subs)
        rt.queue.notify()
        if heartbeat is not None:
            heartbeat()
    # The wave is full: if subscribers still wait, the next wave looks at the stock again later.
    with rt.db.session() as session:
        waiting = session.scalar(
            select(BackInStockSubscription.id)
            .where(
                BackInStockSubscription.shop_connection_id == shop_connection_id,
                BackInStockSubscription.variant_external_id == variant_external_id,
                BackInStockSubscription.status == "active",
            )
            .limit(1)
        )
    if waiting is not None:
        start_wave(rt, shop_connection_id, variant_external_id, delay=settings.back_in_stock_wave_interval_seconds)
    return queued
