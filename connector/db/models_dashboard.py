"""Tables of the dashboard: its users, the login attempts, the login throttle and the first-user setup links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
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
    #: The workspace whose shops the user sees (:mod:`connector.api.scope`).
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    #: ``owner`` (everything) or ``agent`` (contacts and the inbox only), see :mod:`connector.roles`.
    role: Mapped[str] = mapped_column(String(16), default="owner", server_default="owner")
    #: Copied into each session at login; bumping it (logout, new password, deactivation) ends every session.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """One login attempt, kept for audit (the throttle itself counts in :class:`LoginThrottle`)."""

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


class LoginThrottle(Base):
    """Recent failed logins of one client address (``addr:...``) or one login name (``user:...``), and until
    when the next attempt must wait. Updated in one locked transaction per attempt."""

    __tablename__ = "dashboard_login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None]
    blocked_until: Mapped[datetime | None]


class SetupToken(Base):
    """A one-time link to create the first dashboard user (``connector init`` / ``dashboard setup-link``).
    Only the SHA-256 of the token is stored."""

    __tablename__ = "dashboard_setup_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime]
