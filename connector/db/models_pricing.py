"""Tables of WhatsApp pricing: the template categories Meta changed (``template_category_update``).

The billed pricing of each message lives on :class:`connector.db.models.OutboundMessage` (``billed_*``), the
rate cards in ``[notify] rate_cards``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.models import Base, utcnow


class TemplateCategoryChange(Base):
    """Meta re-categorized a template of a channel connection: from ``effective_at`` it is priced as, and needs
    the consent of, ``category``. ``impending`` rows are Meta's advance notice; the completed notice confirms it."""

    __tablename__ = "template_categories"
    __table_args__ = (
        UniqueConstraint(
            "channel_connection_id", "template_name", "language", "effective_at", name="uq_template_categories_key"
        ),
        Index("ix_template_categories_lookup", "channel_connection_id", "template_name", "effective_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(
        ForeignKey("channel_connections.id", ondelete="CASCADE", name="fk_template_categories_channel")
    )
    template_id: Mapped[str] = mapped_column(String(64))
    template_name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    previous_category: Mapped[str | None] = mapped_column(String(32))
    effective_at: Mapped[datetime]
    impending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
