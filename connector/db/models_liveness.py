"""Liveness of the background processes: one row per running worker or (leading) scheduler, beaten every few seconds.

``/readyz`` reads these rows to tell whether work gets done at all (see :mod:`connector.liveness`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.models import Base, utcnow


class ProcessHeartbeat(Base):
    """The last sign of life of one process in one role (``worker`` or ``scheduler``)."""

    __tablename__ = "process_heartbeats"
    __table_args__ = (Index("ix_process_heartbeats_role_beat", "role", "beat_at"),)

    #: ``<role>:<host>:<pid>``: a restarted process gets a new row; a stopped one removes its own.
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)
