"""Tables of the notify subsystem: consent with proof, back-in-stock subscriptions, the order notification
ledger, the outbox state timeline and shared rate-limit buckets.

The outbox itself is :class:`connector.db.models.OutboundMessage` (its notify columns come from the
``notify_0001`` revision).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.models import Base, utcnow


class Consent(Base):
    """A contact's current consent for one purpose (``utility``: order updates, ``marketing``: back-in-stock)."""

    __tablename__ = "notify_consents"
    __table_args__ = (UniqueConstraint("contact_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    #: Where the last opt-in came from (``chat_order``, ``chat_button``, ``public_form``, ``admin_api``, ``keyword``).
    source: Mapped[str] = mapped_column(String(64))
    #: The text the customer agreed to (proof).
    text: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentEvent(Base):
    """Every opt-in and opt-out as it happened: the audit trail behind :class:`Consent`."""

    __tablename__ = "notify_consent_events"
    __table_args__ = (Index("ix_notify_consent_events_contact", "contact_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # opt_in | opt_out
    source: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The customer's own message on the channel decided it (STOP/START, a purchase or a confirmation in chat). A
    #: customer's STOP holds against every opt-in that is not one (:func:`connector.notify.consent.record_opt_in`).
    on_channel: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ConsentRequest(Base):
    """An opt-in asked for from the web (double opt-in): pending until the customer confirms it on the channel with
    ``code``, then ``confirmed`` with that message as proof; ``expired`` when unconfirmed past ``expires_at``."""

    __tablename__ = "notify_consent_requests"
    __table_args__ = (UniqueConstraint("code"), Index("ix_notify_consent_requests_contact", "contact_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    #: Comma-separated purposes the form asked for (``utility``, ``marketing``).
    purposes: Mapped[str] = mapped_column(String(64))
    #: What the customer sends on the channel to confirm (``OPTIN-`` and six letters or digits).
    code: Mapped[str] = mapped_column(String(16))
    #: pending | confirmed | expired | cancelled (the customer sent STOP)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: Where the request came from (``public_form``, ``website widget <page>``) and the form's wording (proof).
    source: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    #: The client address that posted the form.
    client: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    #: When the confirmation question was sent in the customer's 24-hour window (at most once).
    prompted_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    #: The channel message that confirmed it (proof): its id and text.
    confirmation: Mapped[str | None] = mapped_column(Text)


class BackInStockSubscription(Base):
    """A contact waiting for a variant. ``active_key`` is set only while active, so one contact holds at most one
    active subscription per variant (NULLs never collide in a unique constraint)."""

    __tablename__ = "notify_subscriptions"
    __table_args__ = (
        UniqueConstraint("active_key"),
        Index("ix_notify_subscriptions_wave", "shop_connection_id", "variant_external_id", "status", "id"),
        Index("ix_notify_subscriptions_contact", "contact_id", "variant_external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))
    variant_external_id: Mapped[str] = mapped_column(String(255))
    #: pending (a web subscription awaiting its confirmation on the channel) | active | notified | expired | cancelled
    status: Mapped[str] = mapped_column(String(16), default="active")
    active_key: Mapped[str | None] = mapped_column(String(400))
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outbound_message_id: Mapped[int | None] = mapped_column(Integer)
    #: The :class:`ConsentRequest` a pending subscription waits for.
    consent_request_id: Mapped[int | None] = mapped_column(Integer, index=True)


class OrderNotification(Base):
    """How far one order's notifications got: a status never moves backwards in the customer's chat."""

    __tablename__ = "notify_orders"
    __table_args__ = (
        UniqueConstraint("shop_connection_id", "order_external_id"),
        Index("ix_notify_orders_in_flight", "in_flight", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))
    order_external_id: Mapped[str] = mapped_column(String(255))
    #: The highest notification rank queued so far (-1: none).
    rank: Mapped[int] = mapped_column(Integer, default=-1)
    last_kind: Mapped[str | None] = mapped_column(String(64))
    #: Still worth polling (not delivered, cancelled or refunded).
    in_flight: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """One state change of an outbox message (pending, sending, sent, delivered, read, failed, skipped, deferred)."""

    __tablename__ = "notify_outbox_events"
    __table_args__ = (Index("ix_notify_outbox_events_message", "message_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RateLimitBucket(Base):
    """A token bucket shared by every process (:class:`connector.ratelimit.DatabaseStorage`)."""

    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    #: Monotonic-free wall clock of the last refill, as UNIX seconds.
    updated: Mapped[float] = mapped_column(Float)


class PortfolioLimit(Base):
    """A business portfolio's messaging (reach) limit as the channel reported it: unique users its numbers together
    may reach outside the 24-hour window per moving 24 hours (0 = unlimited). ``portfolio`` is the key the channel
    connections share (:func:`connector.notify.portfolio.portfolio_key`)."""

    __tablename__ = "notify_portfolio_limits"

    portfolio: Mapped[str] = mapped_column(String(128), primary_key=True)
    reach_limit: Mapped[int] = mapped_column(Integer)
    #: ``api`` (read from the Graph API field) or ``webhook`` (``business_capability_update``).
    source: Mapped[str] = mapped_column(String(16))
    #: The channel's own words (``TIER_2K``, ``2000``).
    raw: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCheckout(Base):
    """A checkout (or an order) left unpaid, and what checkout recovery did about it.

    One row per shop checkout or order (``source``: ``shopify_checkout``, ``woocommerce``, ``shopware``, ``chat``).
    ``state``: ``waiting`` (a reminder is due at ``next_reminder_at``), ``reminded``, ``recovered`` (paid within
    the attribution window after a reminder; ``recovered_revenue`` in ``currency``), ``paid`` (paid before any
    reminder, or after the window), or ``skipped`` with ``reason``. The campaigns' attribution reads
    ``recovered_at`` / ``recovered_revenue`` and the reminders' outbox rows (``last_message_id``)."""

    __tablename__ = "recovery_checkouts"
    __table_args__ = (
        UniqueConstraint("shop_connection_id", "source", "external_id"),
        Index("ix_recovery_checkouts_due", "state", "next_reminder_at"),
        Index("ix_recovery_checkouts_contact", "contact_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    #: The checkout's (or order's) id in the shop.
    external_id: Mapped[str] = mapped_column(String(255))
    #: What the customer sees (``#1001``, a checkout name); may be empty.
    name: Mapped[str] = mapped_column(String(255), default="")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    reason: Mapped[str | None] = mapped_column(Text)
    #: ``[{"title", "quantity", "price"}]`` as the shop reported them.
    items: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    total: Mapped[str] = mapped_column(String(32), default="0")
    currency: Mapped[str] = mapped_column(String(3), default="")
    #: The link back to the checkout (the platform's recovery URL; the payment link of a chat order).
    recovery_url: Mapped[str | None] = mapped_column(Text)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_at: Mapped[datetime | None]
    last_reminded_at: Mapped[datetime | None]
    #: The outbox row of the latest reminder.
    last_message_id: Mapped[int | None] = mapped_column(Integer)
    #: When the shop last changed the checkout (the delay runs from there).
    checkout_updated_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    recovered_at: Mapped[datetime | None]
    recovered_revenue: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
