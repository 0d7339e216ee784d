"""Tables of selling through chat: segments, campaigns, the paid orders chat is credited with, and the purchase
events sent to Meta's Conversions API.

The messages of a campaign are outbox rows (:class:`connector.db.models.OutboundMessage`) carrying its
``campaign_id``; they inherit the outbox's guarantees (one row per contact and campaign, crash-safe sends).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.models import Base, utcnow


class Segment(Base):
    """A saved filter over contacts (:mod:`connector.campaigns.segments` says what ``filters`` may hold)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Campaign(Base):
    """One approved template sent from one channel connection to the contacts of a segment."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="RESTRICT"))
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    #: The approved template's name and language code (``en_US``), and its body parameters: literal text or
    #: ``{name}``, ``{first_name}``, ``{phone}``, ``{country}`` filled per contact.
    template: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    parameters: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Featured products: catalog retailer ids shown as the cards of a product-card carousel template (at most 10;
    #: sold-out or deleted ones are left out when each message is sent). Empty: the template has no cards.
    products: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    #: draft | scheduled | running | paused | cancelled | done
    status: Mapped[str] = mapped_column(String(16), default="draft")
    #: Why it stopped or paused by itself (the budget cap reached), else ``None``.
    status_reason: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime | None]
    #: Most the campaign may cost (estimated when queued, in the rate card's currency); 0 = no cap.
    budget_cap: Mapped[float] = mapped_column(Float, default=0.0)
    #: Estimated cost of what was queued so far.
    estimated_cost: Mapped[float] = mapped_column(Float, default=0.0)
    #: The fan-out's position: the highest contact id looked at so far (a restart goes on from there).
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    #: Contacts of the segment not queued, by reason (``no consent``, ``opted out``, ``frequency cap``...).
    excluded: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    #: Bumped by each start and resume: the fan-out task of an older run stops.
    run: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class SalesOrder(Base):
    """A paid shop order, with the chat touch it is credited to (the last one within the attribution window)."""

    __tablename__ = "sales_orders"
    __table_args__ = (
        UniqueConstraint("shop_connection_id", "order_external_id"),
        Index("ix_sales_orders_contact", "contact_id", "paid_at"),
        Index("ix_sales_orders_source", "source", "paid_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))
    order_external_id: Mapped[str] = mapped_column(String(255))
    number: Mapped[str] = mapped_column(String(64), default="")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    total: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime]
    #: campaign | recovery | back_in_stock | shipping | conversation, or ``None`` (no chat touch in the window).
    source: Mapped[str | None] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    #: The outbox row credited (``None`` for a conversation: the customer's own message).
    message_id: Mapped[int | None] = mapped_column(Integer)
    touched_at: Mapped[datetime | None]


class SalesOrderLine(Base):
    """What a paid order bought: segments filter on it (products bought)."""

    __tablename__ = "sales_order_lines"
    __table_args__ = (Index("ix_sales_order_lines_product", "product_external_id", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id", ondelete="CASCADE"), index=True)
    product_external_id: Mapped[str] = mapped_column(String(255))
    variant_external_id: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer, default=1)


class ConversionEvent(Base):
    """A ``Purchase`` event for Meta's Conversions API (business messaging): one per paid order from an ad click."""

    __tablename__ = "conversion_events"
    __table_args__ = (UniqueConstraint("order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id", ondelete="CASCADE"))
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    #: pending | sent | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    fbtrace_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
