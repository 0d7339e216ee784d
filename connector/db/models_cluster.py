"""Tables of the cluster subsystem: which tenant each task belongs to (for fair dispatch across shops)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.models import Base


class TaskGroup(Base):
    """The tenant (``shop:<id>``, or the task kind when a task has no shop) of one task.

    Written in the same transaction as the task in the distributed backend only; the relay publishes
    due tasks round-robin across groups, so one shop's 100,000 sends cannot starve the others.
    """

    __tablename__ = "task_groups"
    __table_args__ = (Index("ix_task_groups_group_key", "group_key"),)

    task_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(64))
