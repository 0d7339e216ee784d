"""Embedded Signup / Facebook Login for Business in flight: one row per ``state`` handed to Meta's window.

A row is used once (``used_at``), belongs to the dashboard user who started it and expires after a few minutes, so
a replayed, foreign or stale ``state`` is refused (see ``connector_meta.onboarding.states``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.models import Base, utcnow


class MetaSignupState(Base):
    """One click on "Connect WhatsApp" (or "Connect Facebook / Instagram") on its way through Meta's window."""

    __tablename__ = "meta_signup_states"

    #: The random ``state`` parameter (URL-safe, 43 characters).
    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: ``whatsapp`` (Embedded Signup) or ``pages`` (Facebook Login for Business: Pages and Instagram accounts).
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(Integer)
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))
    #: Keep the shop's WhatsApp Business app next to the Cloud API (coexistence).
    coexistence: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Demo mode: the Graph sandbox plays Meta.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What the window's message event said (``WA_EMBEDDED_SIGNUP``: ids chosen, or where the owner stopped).
    session_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
