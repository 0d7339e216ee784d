"""Tables of the conversation engine: per-contact state, orders placed in chat, and human handoffs.

What the customer wrote or gave (flow data, addresses, carts, handoff texts, replies) is encrypted at rest
(:mod:`connector.db.encrypted`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.encrypted import EncryptedJSON, EncryptedText
from connector.db.models import Base, utcnow


class ConversationState(Base):
    """Where one contact stands in the conversation: language, the open flow and its collected data."""

    __tablename__ = "conversation_states"
    __table_args__ = (UniqueConstraint("contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    language: Mapped[str | None] = mapped_column(String(8))
    #: The open flow (``address``, ``cart_confirm``, ``lookup``, ``search``...) or ``None``.
    flow: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    flow_expires_at: Mapped[datetime | None]
    #: The last delivery address the customer gave (reused for the next order).
    address: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON)
    #: Orders the contact proved they own (external ids), for lookups on channels without a phone.
    verified_orders: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: The highest inbound message row handled: a re-run of a handled message does nothing.
    last_inbound_id: Mapped[int | None] = mapped_column(Integer)
    #: While set and in the future the bot stays silent (a person took over).
    silent_until: Mapped[datetime | None]
    #: A short lease serialising the handling of one contact's messages.
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatOrder(Base):
    """An order placed in chat: claimed before the shop is called, so a retry or a double tap never orders twice."""

    __tablename__ = "chat_orders"
    __table_args__ = (
        UniqueConstraint("reference"),
        UniqueConstraint("inbound_message_id", "cart_hash"),
        Index("ix_chat_orders_contact", "contact_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))
    #: The inbound message (cart or confirmation) the order came from.
    inbound_message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id", ondelete="CASCADE"))
    #: SHA-256 of the cart's lines: equal carts, equal hash.
    cart_hash: Mapped[str] = mapped_column(String(64))
    #: The idempotency key handed to ``ShopAdapter.create_order`` as ``cart.reference``.
    reference: Mapped[str] = mapped_column(String(128))
    cart: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    #: ``creating`` (claimed, shop not answered yet), ``created``, ``failed``.
    status: Mapped[str] = mapped_column(String(16), default="creating")
    order_external_id: Mapped[str | None] = mapped_column(String(255))
    order_number: Mapped[str | None] = mapped_column(String(64))
    payment_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Handoff(Base):
    """A conversation handed to a person: when, why, until when the bot is silent, and whether the owner was told."""

    __tablename__ = "chat_handoffs"
    __table_args__ = (UniqueConstraint("inbound_message_id"), Index("ix_chat_handoffs_contact", "contact_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    inbound_message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(64))
    #: What the customer wrote, encrypted.
    text: Mapped[str] = mapped_column(EncryptedText, default="")
    silent_until: Mapped[datetime]
    #: ``pending``, ``notified``, ``failed`` (with ``error``), ``none`` (no email or webhook configured).
    notify_status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None]


class ChatReply(Base):
    """One reply to an inbound message, in order. Reply ``n + 1`` enters the outbox only once the channel accepted
    reply ``n``, so a customer always reads a multi-part answer in the order it was written."""

    __tablename__ = "chat_replies"
    __table_args__ = (UniqueConstraint("inbound_message_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(128))
    #: The canonical outbound message (connector.serialization).
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    #: The outbox row once queued.
    outbound_message_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
