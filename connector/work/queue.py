"""The task queue: rows in the ``tasks`` table, claimed with a lease.

Claiming is safe with many workers: on PostgreSQL rows are picked with ``FOR UPDATE SKIP LOCKED``; on
SQLite every transaction starts with ``BEGIN IMMEDIATE`` (see :mod:`connector.db`), so claims are
serialised. A worker that dies leaves its task ``running`` with a lease; once the lease runs out,
another worker claims it again. Handlers are idempotent, so that second run is harmless.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.db import Database
from connector.db.models import Task
from connector.db.models_cluster import TaskGroup

log = logging.getLogger(__name__)


class Retry(Exception):
    """Raise from a handler to run the task again after ``delay`` seconds, without counting it as a failure."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    id: int
    kind: str
    args: dict[str, Any]
    attempts: int
    max_attempts: int


#: Decides the tenant group of a new task (``shop:7``); set by the distributed backend, see :mod:`connector.cluster`.
Grouper = Callable[[Session, str, dict[str, Any]], str]


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 900.0) -> float:
    """Exponential backoff with full jitter: attempt 1 waits up to 2 s, attempt 5 up to 32 s, capped at 15 min."""
    return random.uniform(0.5, 1.0) * min(cap, base**attempt)


class TaskQueue:
    """Enqueue and claim tasks. Thread-safe; one instance per process."""

    def __init__(self, db: Database, *, lease_seconds: int = 300, max_attempts: int = 8):
        self.db = db
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        #: ``None`` in the embedded default. The distributed backend sets it so that every task gets a
        #: ``task_groups`` row (its tenant) in the same transaction, for fair dispatch across shops.
        self.grouper: Grouper | None = None

    def on_enqueue(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each enqueue in this process (wakes the embedded worker at once)."""
        self._listeners.append(callback)

    def notify(self) -> None:
        """Wake this process's workers now (call after committing a transaction that enqueued tasks)."""
        for callback in self._listeners:
            callback()

    def enqueue(
        self,
        kind: str,
        args: dict[str, Any] | None = None,
        *,
        session: Session | None = None,
        delay: float = 0,
        priority: int = 100,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
    ) -> int | None:
        """Add a task. With ``session``, the task joins that transaction (commits or rolls back with it).

        With ``idempotency_key``, a second enqueue with the same key adds nothing and returns ``None``.
        """
        task = Task(
            kind=kind,
            args=args or {},
            priority=priority,
            due_at=datetime.now(UTC) + timedelta(seconds=delay),
            idempotency_key=idempotency_key,
            max_attempts=max_attempts or self.max_attempts,
        )
        if session is not None:
            return self._add(session, task)
        with self.db.session() as own:
            task_id = self._add(own, task)
        self.notify()
        return task_id

    def _add(self, session: Session, task: Task) -> int | None:
        if task.idempotency_key is not None:
            exists = session.scalar(select(Task.id).where(Task.idempotency_key == task.idempotency_key))
            if exists is not None:
                return None
            try:
                with session.begin_nested():
                    session.add(task)
                    session.flush()
            except IntegrityError:  # enqueued by someone else between our check and our insert
                return None
        else:
            session.add(task)
            session.flush()
        if self.grouper is not None:
            session.add(TaskGroup(task_id=task.id, group_key=self.grouper(session, task.kind, task.args)[:64]))
        return task.id

    def claim(self, worker: str, limit: int = 1) -> list[ClaimedTask]:
        """Take up to ``limit`` due tasks (pending, or running with an expired lease), most urgent first."""
        now = datetime.now(UTC)
        due = and_(
            Task.due_at <= now,
            or_(Task.status == "pending", and_(Task.status == "running", Task.lease_until < now)),
        )
        with self.db.session() as session:
            query = select(Task.id).where(due).order_by(Task.priority, Task.due_at, Task.id).limit(limit)
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if not ids:
                return []
            rows = session.execute(
                update(Task)
                .where(Task.id.in_(ids))
                .values(
                    status="running",
                    lease_until=now + timedelta(seconds=self.lease_seconds),
                    worker=worker,
                    attempts=Task.attempts + 1,
                )
                .returning(Task.id, Task.kind, Task.args, Task.attempts, Task.max_attempts)
            ).all()
        return [ClaimedTask(*row) for row in rows]

    def claim_id(self, task_id: int, worker: str) -> ClaimedTask | None:
        """Take one task by id (a distributed worker got its id from the broker); ``None`` if it is not claimable.

        Claimable means due and ``pending``/``queued``, or ``running`` with an expired lease (its worker died).
        A redelivered or duplicated broker message for a task that is running, done or failed claims nothing,
        so a task id published twice still runs once at a time.
        """
        now = datetime.now(UTC)
        claimable = and_(
            Task.id == task_id,
            Task.due_at <= now,
            or_(Task.status.in_(("pending", "queued")), and_(Task.status == "running", Task.lease_until < now)),
        )
        with self.db.session() as session:
            row = session.execute(
                update(Task)
                .where(claimable)
                .values(
                    status="running",
                    lease_until=now + timedelta(seconds=self.lease_seconds),
                    worker=worker,
                    attempts=Task.attempts + 1,
                )
                .returning(Task.id, Task.kind, Task.args, Task.attempts, Task.max_attempts)
            ).first()
        return ClaimedTask(*row) if row is not None else None

    def extend_lease(self, task_id: int) -> None:
        """Keep a long task's claim (a full sync of a big catalog)."""
        with self.db.session() as session:
            session.execute(
                update(Task)
                .where(Task.id == task_id, Task.status == "running")
                .values(lease_until=datetime.now(UTC) + timedelta(seconds=self.lease_seconds))
            )

    def complete(self, task_id: int) -> None:
        with self.db.session() as session:
            session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(status="done", finished_at=datetime.now(UTC), lease_until=None, last_error=None)
            )

    def retry(self, task_id: int, delay: float, error: str, *, count_attempt: bool = True) -> None:
        """Put the task back, due in ``delay`` seconds. ``count_attempt=False`` gives the attempt back."""
        values: dict[str, Any] = {
            "status": "pending",
            "due_at": datetime.now(UTC) + timedelta(seconds=delay),
            "lease_until": None,
            "last_error": error[:2000],
        }
        if not count_attempt:
            values["attempts"] = Task.attempts - 1
        with self.db.session() as session:
            session.execute(update(Task).where(Task.id == task_id).values(**values))
        self.notify()

    def fail(self, task_id: int, error: str) -> None:
        """Give up on the task; it stays in the table with its error for the owner to see."""
        with self.db.session() as session:
            session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(status="failed", finished_at=datetime.now(UTC), lease_until=None, last_error=error[:2000])
            )

    def counts(self) -> dict[str, int]:
        """Tasks by status."""
        with self.db.session() as session:
            return dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).all())

    def next_due_in(self) -> float | None:
        """Seconds until the next pending task is due (``None`` when nothing is pending)."""
        with self.db.session() as session:
            due = session.scalar(select(func.min(Task.due_at)).where(Task.status == "pending"))
        if due is None:
            return None
        if due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        return max(0.0, (due - datetime.now(UTC)).total_seconds())
