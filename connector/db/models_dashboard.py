"""Tables of the dashboard: its users and the login attempts the rate limit counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.models import Base, utcnow


class DashboardUser(Base):
    """Someone who may log in to the dashboard. Only an argon2id hash of the password is stored."""

    __tablename__ = "dashboard_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The login name (an e-mail address, lower-cased).
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    #: ``en`` or ``de``; empty means "from the browser".
    language: Mapped[str] = mapped_column(String(8), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """One login attempt, kept for the rate limit (per client address and per login name) and for audit."""

    __tablename__ = "dashboard_login_attempts"
    __table_args__ = (
        Index("ix_dashboard_login_attempts_client", "client", "attempted_at"),
        Index("ix_dashboard_login_attempts_email", "email", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
