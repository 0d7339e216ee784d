"""Abandoned-checkout recovery: remind a customer of the checkout (or order) they left unpaid, once or twice.

Sources: Shopify checkouts (``checkouts/create`` / ``checkouts/update`` webhooks, ``CHECKOUT_CHANGED`` events),
orders a shop reports as waiting for payment (WooCommerce ``pending``, Shopware with an open payment, Shopify
payment pending), and chat orders not paid (the same order events, for an order placed in chat: the reminder goes
to that chat, with the payment link). Each becomes one :class:`~connector.db.models_notify.RecoveryCheckout` row.

The rules (``[notify] recovery_*``):

* the first reminder is due ``recovery_delay_minutes`` after the checkout's last change (a later change moves it);
  up to ``recovery_reminders`` (1 or 2), ``recovery_spacing_hours`` apart. The due time is stored with the
  checkout; a job enqueues due reminders every minute (one due at once is enqueued in the transaction that records
  it), so a crash loses none, and each reminder's outbox row is keyed ``recovery:<checkout>:<n>``, so none is sent
  twice;
* never once the checkout was paid, cancelled, or a newer checkout or order of the same customer exists (checked
  when the reminder is queued and again when it is sent, :func:`still_due`);
* the message is marketing: the notification policy requires the marketing opt-in, keeps the customer's quiet
  hours, the frequency cap, the 131049 pause and the US rule, and routes it through the Marketing Messages API
  when the account can;
* paid within ``recovery_attribution_days`` after a reminder that went out: ``recovered``, with its revenue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from connector import model
from connector.db.models import Contact, OutboundMessage, ShopConnection
from connector.db.models_notify import RecoveryCheckout
from connector.notify.contacts import chat_language, contact_for_order, contact_for_typed_phone
from connector.notify.frequency import _
from connector.notify.outbox import queue_notification, record_event

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

log = logging.getLogger(__name__)

KIND = "checkout_recovery"
REMIND_TASK = "notify.recovery_remind"
DUE_TASK = "notify.recovery_due"
POLL_TASK = "notify.recovery_poll"
#: How far back a poll of a shop's open checkouts reads (each is idempotent: a known checkout changes nothing).
POLL_WINDOW = timedelta(hours=24)
#: States a checkout can be in (``skipped`` carries a reason).
STATES = ("waiting", "reminded", "recovered", "paid", "skipped")
#: Where checkouts come from.
SOURCES = ("shopify_checkout", "shopify", "woocommerce", "shopware", "chat")
#: Shops report times to the second (WooCommerce ``date_modified_gmt``): a payment in the same second as the
#: reminder is after it.
_CLOCK_SLACK = timedelta(seconds=1)
#: Outbox states of a reminder that went out (or is going out).
_WENT_OUT = ("sending", "unknown", "sent", "delivered", "read")

PAID = _("the order was paid")
NEWER = _("a newer order exists")
CANCELLED = _("the order was cancelled")
NO_CONTACT = _("no chat and no WhatsApp number to remind the customer on")


@dataclass(slots=True)
class Facts:
    """What recovery needs to know of a checkout or an unpaid order, whatever the platform."""

    source: str
    external_id: str
    name: str
    lines: list[model.OrderLine]
    total: model.Money
    recovery_url: str | None
    customer: model.Customer = field(default_factory=model.Customer)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _items(lines: list[model.OrderLine]) -> list[dict[str, Any]]:
    # ``variant`` lets a reminder for several products show them as product cards (``carousel_templates``).
    return [
        {
            "title": line.title,
            "quantity": line.quantity,
            "price": str(line.unit_price.amount),
            "variant": line.variant_external_id,
        }
        for line in lines
    ]


def on_order(rt: Runtime, shop_connection_id: int, order: model.Order) -> None:
    """An order event: an unpaid order is tracked, a paid one settles its row (and supersedes older ones)."""
    if not rt.config.notify.recovery_enabled:
        return
    with rt.db.session() as session:
        chat = contact_for_order(session, shop_connection_id, order.external_id, order.reference)
        source = "chat" if chat is not None else _platform(session, shop_connection_id)
        if order.status is model.OrderStatus.PENDING:
            facts = Facts(
                source=source,
                external_id=order.external_id,
                name=order.number,
                lines=order.lines,
                total=order.total,
                recovery_url=order.payment_url,
                customer=order.customer,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
            _track(rt, session, shop_connection_id, facts, chat)
        elif order.status in (model.OrderStatus.CANCELLED, model.OrderStatus.REFUNDED):
            row = _find_order(session, shop_connection_id, order.external_id)
            if row is not None and row.state in ("waiting", "reminded"):
                _close_row(session, row, CANCELLED)
        else:
            row = _find_order(session, shop_connection_id, order.external_id)
            contact = chat or (session.get(Contact, row.contact_id) if row is not None and row.contact_id else None)
            if contact is None and row is None:
                contact = _contact_by_phone(session, shop_connection_id, order.customer)
            _paid(rt, session, shop_connection_id, row, contact, order.updated_at or datetime.now(UTC))


def on_checkout(rt: Runtime, shop_connection_id: int, checkout: model.Checkout) -> None:
    """A checkout was started or changed: track it, or settle it once completed."""
    if not rt.config.notify.recovery_enabled:
        return
    with rt.db.session() as session:
        if checkout.completed_at is not None:
            row = _find(session, shop_connection_id, "shopify_checkout", checkout.external_id)
            contact = session.get(Contact, row.contact_id) if row is not None and row.contact_id else None
            _paid(rt, session, shop_connection_id, row, contact, checkout.completed_at)
            return
        facts = Facts(
            source="shopify_checkout",
            external_id=checkout.external_id,
            name=checkout.name,
            lines=checkout.lines,
            total=checkout.total,
            recovery_url=checkout.recovery_url,
            customer=checkout.customer,
            created_at=checkout.created_at,
            updated_at=checkout.updated_at,
        )
        _track(rt, session, shop_connection_id, facts, None)


def poll(rt: Runtime) -> int:
    """Read every shop's open checkouts (Shopify's ``abandonedCheckouts`` query) and track them: the webhooks'
    safety net. Shops whose adapter has no such query are left out. Returns how many checkouts were read."""
    if not rt.config.notify.recovery_enabled:
        return 0
    since = datetime.now(UTC) - POLL_WINDOW
    read = 0
    for shop in rt.connections.shops():
        if not shop.enabled:
            continue
        try:
            adapter = rt.connections.shop_adapter(shop.id)
            reader = getattr(adapter, "abandoned_checkouts", None)
            if reader is None:
                continue
            for checkout in reader(updated_since=since):
                on_checkout(rt, shop.id, checkout)
                read += 1
        except Exception as exc:  # one shop being down must not stop the others
            log.warning("recovery: reading the open checkouts of shop %s failed: %s", shop.id, exc)
    return read


def _platform(session: Session, shop_connection_id: int) -> str:
    platform = session.scalar(select(ShopConnection.platform).where(ShopConnection.id == shop_connection_id))
    return str(platform or "shop")


def _find(session: Session, shop_connection_id: int, source: str, external_id: str) -> RecoveryCheckout | None:
    return session.scalar(
        select(RecoveryCheckout).where(
            RecoveryCheckout.shop_connection_id == shop_connection_id,
            RecoveryCheckout.source == source,
            RecoveryCheckout.external_id == external_id,
        )
    )


def _find_order(session: Session, shop_connection_id: int, external_id: str) -> RecoveryCheckout | None:
    """An order's row, whichever source it was recorded under (its webhook may have come before the chat order was
    recorded: the row then says ``chat`` from the next event on)."""
    return session.scalar(
        select(RecoveryCheckout)
        .where(
            RecoveryCheckout.shop_connection_id == shop_connection_id,
            RecoveryCheckout.source != "shopify_checkout",
            RecoveryCheckout.external_id == external_id,
        )
        .order_by(RecoveryCheckout.id)
        .limit(1)
    )


def _contact_by_phone(session: Session, shop_connection_id: int, customer: model.Customer) -> Contact | None:
    """The WhatsApp contact of the number the customer typed into the checkout (``None`` without one)."""
    return contact_for_typed_phone(
        session,
        shop_connection_id,
        customer.phone,
        customer.country_code,
        name=customer.name,
        locale=customer.locale,
    )


def _track(
    rt: Runtime, session: Session, shop_connection_id: int, facts: Facts, chat: Contact | None
) -> RecoveryCheckout | None:
    """Record (or update) an unpaid checkout and enqueue its first reminder, in ``session``'s transaction."""
    now = datetime.now(UTC)
    settings = rt.config.notify
    if facts.source == "shopify_checkout":
        row = _find(session, shop_connection_id, facts.source, facts.external_id)
    else:
        row = _find_order(session, shop_connection_id, facts.external_id)
    if row is not None and chat is not None:
        row.source, row.contact_id = "chat", chat.id
    if row is not None and row.state not in ("waiting",):
        return row  # reminded already, paid or closed: a later update changes nothing
    contact = chat or _contact_by_phone(session, shop_connection_id, facts.customer)
    changed = facts.updated_at or now
    if row is None:
        row = RecoveryCheckout(
            shop_connection_id=shop_connection_id,
            source=facts.source,
            external_id=facts.external_id,
            state="waiting",
            reminders_sent=0,
            created_at=facts.created_at or now,
        )
        session.add(row)
    row.name = facts.name or ""
    row.contact_id = contact.id if contact is not None else None
    row.items = _items(facts.lines)
    row.total, row.currency = str(facts.total.amount), facts.total.currency
    row.recovery_url = facts.recovery_url
    row.checkout_updated_at = changed
    row.updated_at = now
    if contact is None:
        row.state, row.reason, row.next_reminder_at = "skipped", NO_CONTACT, None
        session.flush()
        return row
    row.next_reminder_at = max(changed, now - timedelta(days=1)) + timedelta(minutes=settings.recovery_delay_minutes)
    session.flush()
    _supersede(session, row)
    _schedule(rt, session, row, now)
    return row


def _schedule(rt: Runtime, session: Session, row: RecoveryCheckout, now: datetime) -> None:
    """A reminder due now is enqueued in ``session``'s transaction; a later one is left to :func:`enqueue_due`
    (every minute), so the queue holds no task for the hour a reminder waits and a crash loses none."""
    assert row.next_reminder_at is not None
    if row.next_reminder_at <= now + timedelta(seconds=1):
        _enqueue(rt, session, row)


def _enqueue(rt: Runtime, session: Session, row: RecoveryCheckout) -> None:
    assert row.next_reminder_at is not None
    rt.queue.enqueue(
        REMIND_TASK,
        {"checkout_id": row.id},
        session=session,
        priority=45,
        idempotency_key=f"recovery-remind:{row.id}:{row.reminders_sent}:{row.next_reminder_at.isoformat()}",
    )


def enqueue_due(rt: Runtime) -> int:
    """Enqueue the reminders that are due (the job ``notify.recovery_due`` runs this every minute); returns how many
    checkouts were due. A reminder already enqueued is not enqueued twice (its idempotency key)."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        due = list(
            session.scalars(
                select(RecoveryCheckout)
                .where(
                    RecoveryCheckout.state.in_(("waiting", "reminded")),
                    RecoveryCheckout.next_reminder_at <= now,
                )
                .order_by(RecoveryCheckout.next_reminder_at)
                .limit(5000)
            )
        )
        for row in due:
            _enqueue(rt, session, row)
    if due:
        rt.queue.notify()
    return len(due)


def _supersede(session: Session, newest: RecoveryCheckout) -> None:
    """Older checkouts of the same customer in the same shop are not reminded of once a newer one exists."""
    if newest.contact_id is None:
        return
    older = session.scalars(
        select(RecoveryCheckout).where(
            RecoveryCheckout.shop_connection_id == newest.shop_connection_id,
            RecoveryCheckout.contact_id == newest.contact_id,
            RecoveryCheckout.id != newest.id,
            RecoveryCheckout.state.in_(("waiting", "reminded")),
            RecoveryCheckout.created_at <= newest.created_at,
        )
    )
    for row in older:
        _close_row(session, row, NEWER)


def _close_row(session: Session, row: RecoveryCheckout, why: str, state: str = "skipped") -> None:
    """End a checkout's reminders: its state, and its reminders not sent yet skipped with the reason."""
    now = datetime.now(UTC)
    if state == "skipped" and row.state == "reminded":
        # A reminder went out already: the checkout keeps that state, only what is still due is dropped.
        state = "reminded"
    row.state, row.next_reminder_at, row.updated_at = state, None, now
    if state != "reminded":
        row.reason = why
    waiting = list(
        session.scalars(
            update(OutboundMessage)
            .where(
                OutboundMessage.idempotency_key.in_([f"recovery:{row.id}:{n}" for n in (1, 2)]),
                OutboundMessage.status.in_(("pending", "deferred")),
            )
            .values(status="skipped", reason=why, deferred_until=None)
            .returning(OutboundMessage.id)
        )
    )
    for message_id in waiting:
        record_event(session, message_id, "skipped", why)


def _paid(
    rt: Runtime,
    session: Session,
    shop_connection_id: int,
    row: RecoveryCheckout | None,
    contact: Contact | None,
    paid_at: datetime,
) -> None:
    """A checkout or order was paid: recovered (a reminder went out within the attribution window) or paid; the
    customer's older open checkouts are not reminded of any more."""
    now = datetime.now(UTC)
    if row is not None and (row.state in ("waiting", "reminded") or row.reason == NEWER):
        went_out = (
            row.last_message_id is not None
            and session.scalar(select(OutboundMessage.status).where(OutboundMessage.id == row.last_message_id))
            in _WENT_OUT
        )
        window = timedelta(days=rt.config.notify.recovery_attribution_days)
        reminded = row.last_reminded_at
        if went_out and reminded is not None and reminded - _CLOCK_SLACK <= paid_at <= reminded + window:
            row.recovered_at, row.recovered_revenue = paid_at, float(Decimal(row.total))
            _close_row(session, row, PAID, state="recovered")
            row.reason = None
        else:
            _close_row(session, row, PAID, state="paid")
        row.paid_at = paid_at
        row.updated_at = now
    if contact is None:
        return
    others = session.scalars(
        select(RecoveryCheckout).where(
            RecoveryCheckout.shop_connection_id == shop_connection_id,
            RecoveryCheckout.contact_id == contact.id,
            RecoveryCheckout.state.in_(("waiting", "reminded")),
        )
    )
    for other in others:
        if row is None or other.id != row.id:
            _close_row(session, other, NEWER)


def still_due(session: Session, checkout_id: int) -> str | None:
    """Why a reminder of checkout ``checkout_id`` must not go out now (paid, closed, newer order), or ``None``."""
    row = session.get(RecoveryCheckout, checkout_id)
    if row is None:
        return NEWER
    if row.state in ("waiting", "reminded"):
        return None
    return row.reason or PAID


def remind(rt: Runtime, checkout_id: int) -> int | None:
    """Queue the next reminder of a checkout if it is due; returns its outbox row id."""
    settings = rt.config.notify
    now = datetime.now(UTC)
    with rt.db.session() as session:
        row = session.get(RecoveryCheckout, checkout_id)
        if row is None or row.state not in ("waiting", "reminded") or row.next_reminder_at is None:
            return None
        if row.next_reminder_at > now + timedelta(seconds=1):
            return None  # moved by a later change of the checkout: its own task comes then
        if row.reminders_sent >= settings.recovery_reminders:
            row.next_reminder_at = None
            return None
        contact = session.get(Contact, row.contact_id) if row.contact_id else None
        if contact is None:
            _close_row(session, row, NO_CONTACT)
            return None
        number = row.reminders_sent + 1
        language = chat_language(session, contact) if row.source == "chat" else None
        message_id = queue_notification(
            rt,
            session,
            contact=contact,
            kind=KIND,
            purpose="marketing",
            variables=variables_for(row, contact),
            idempotency_key=f"recovery:{row.id}:{number}",
            language=language,
        )
        row.reminders_sent, row.last_reminded_at, row.state, row.updated_at = number, now, "reminded", now
        if message_id is not None:
            row.last_message_id = message_id
        if number < settings.recovery_reminders:
            row.next_reminder_at = now + timedelta(hours=settings.recovery_spacing_hours)
            _schedule(rt, session, row, now)
        else:
            row.next_reminder_at = None
        return message_id


def variables_for(row: RecoveryCheckout, contact: Contact) -> dict[str, Any]:
    """What the reminder's texts and template can use: the items, the total and the link back."""
    items = ", ".join(f"{item.get('quantity', 1)}x {item.get('title', '')}" for item in row.items)
    return {
        "checkout_id": row.id,
        "name": (contact.name or "").split(" ")[0],
        "number": row.name,
        "items": items,
        "lines": row.items,
        "total": row.total,
        "currency": row.currency,
        "checkout_url": row.recovery_url,
    }


def display_state(row: RecoveryCheckout, message: OutboundMessage | None) -> tuple[str, str | None]:
    """The state to show: a reminder still waiting (quiet hours, budget) shows as ``waiting``, one the rules
    skipped (no opt-in, frequency cap ...) as ``skipped``, each with the reason."""
    if row.state != "reminded" or message is None:
        return row.state, row.reason
    if message.status in ("pending", "deferred"):
        return "waiting", message.reason
    if message.status == "skipped":
        return "skipped", message.reason
    if message.status == "failed":
        return "skipped", message.error or message.reason
    return "reminded", None
