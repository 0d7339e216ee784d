"""The task queue: rows in the ``tasks`` table, claimed with a lease.

Claiming is safe with many workers: on PostgreSQL rows are picked with ``FOR UPDATE SKIP LOCKED``; on
SQLite every transaction starts with ``BEGIN IMMEDIATE`` (see :mod:`connector.db`), so claims are
serialised. A worker that dies leaves its task ``running`` with a lease; once the lease runs out,
another worker claims it again. Handlers are idempotent, so that second run is harmless.

With a heartbeat (``heartbeat_seconds``: every worker process), the lease is short and renewed every heartbeat
while the claiming process lives (:mod:`connector.work.heartbeat`): a lease runs out only when that process is
gone, never because its task is slow, and a dead process's tasks are taken over within ``lease_seconds``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from connector.db import Database, insert_many_ids
from connector.db.models import Task
from connector.db.models_cluster import TaskGroup
from connector.work import priorities
from connector.work.heartbeat import Heartbeat

log = logging.getLogger(__name__)


class Retry(Exception):
    """Raise from a handler to run the task again after ``delay`` seconds, without counting it as a failure."""

    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


#: :attr:`ClaimedTask.prepared` of a task whose kind prepares nothing at its claim (or claimed by id).
NOT_PREPARED: Any = object()


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    id: int
    kind: str
    args: dict[str, Any]
    attempts: int
    max_attempts: int
    #: What the kind's :meth:`TaskQueue.at_claim` function returned in the claim's transaction.
    prepared: Any = NOT_PREPARED


#: Work of a task kind done in the transaction that claims it: ``prepare(session, args)`` (see
#: :meth:`TaskQueue.at_claim`).
Prepare = Callable[[Session, dict[str, Any]], Any]


#: Decides the tenant group of a new task (``shop:7``); set by the distributed backend, see :mod:`connector.cluster`.
Grouper = Callable[[Session, str, dict[str, Any]], str]


_tasks = Task.__table__
_now = bindparam("now", type_=_tasks.c.due_at.type)
_lease = bindparam("lease", type_=_tasks.c.lease_until.type)
#: The claim's statements, built once: a worker claims after every task, and building and ORM-compiling them each
#: time cost more than running them. Plain table statements skip the ORM's bulk-update bookkeeping too.
_DUE = and_(
    _tasks.c.due_at <= _now,
    or_(_tasks.c.status == "pending", and_(_tasks.c.status == "running", _tasks.c.lease_until < _now)),
)


class EpochSeconds(FunctionElement[float]):
    """Seconds since 1970 of a stored UTC timestamp, on either backend."""

    type = Float()
    inherit_cache = True


@compiles(EpochSeconds, "sqlite")
def _epoch_sqlite(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores naive UTC text; julianday() reads it (2440587.5 is 1970-01-01 as a Julian day).
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(EpochSeconds, "postgresql")
def _epoch_postgres(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"extract(epoch FROM {compiler.process(element.clauses, **kw)})::float8"


_chat = _tasks.c.priority <= priorities.CHAT
#: Claim order (see :mod:`connector.work.priorities`): the chat tier first, by priority and age; then everything
#: else by ``due_at + priority * aging``, i.e. by priority improved by one every ``aging`` seconds of waiting.
_ORDER = (
    case((_chat, 0), else_=1),
    case((_chat, _tasks.c.priority), else_=0),
    EpochSeconds(_tasks.c.due_at)
    + case((_chat, literal(0.0)), else_=_tasks.c.priority * bindparam("aging", type_=Float())),
    _tasks.c.id,
)
_CLAIM_IDS = select(_tasks.c.id).where(_DUE).order_by(*_ORDER).limit(bindparam("limit", type_=_tasks.c.id.type))
_CLAIM_IDS_LOCKED = _CLAIM_IDS.with_for_update(skip_locked=True)
_TAKE = (
    update(_tasks)
    .where(_tasks.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="running", lease_until=_lease, worker=bindparam("worker"), attempts=_tasks.c.attempts + 1)
    .returning(_tasks.c.id, _tasks.c.kind, _tasks.c.args, _tasks.c.attempts, _tasks.c.max_attempts)
)
_INSERT = insert(_tasks).returning(_tasks.c.id)
_INSERT_GROUPS = insert(TaskGroup.__table__)
_INSERT_NEW_SQLITE = (
    sqlite.insert(_tasks).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(_tasks.c.id)
)
_INSERT_NEW_PG = (
    postgresql.insert(_tasks).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(_tasks.c.id)
)
_DONE = (
    update(_tasks)
    .where(_tasks.c.id == bindparam("task_id"))
    .values(status="done", finished_at=_now, lease_until=None, last_error=None)
)
#: A heartbeat's renewal: only while the task is still running under the same worker (never one taken over).
_RENEW = (
    update(_tasks)
    .where(
        _tasks.c.id == bindparam("task_id"),
        _tasks.c.worker == bindparam("held_by"),
        _tasks.c.status == "running",
    )
    .values(lease_until=_lease)
)


#: A retry due within this many seconds wakes this process's workers when it is due.
_WAKE_FOR_RETRY_SECONDS = 2.0

#: A write left for the claim after a task, and what runs once it committed (see :meth:`TaskQueue.after_task`).
_AfterTask = tuple[Callable[[Session], None], Callable[[], None] | None]


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 900.0) -> float:
    """Exponential backoff with full jitter: attempt 1 waits up to 2 s, attempt 5 up to 32 s, capped at 15 min."""
    return random.uniform(0.5, 1.0) * min(cap, base**attempt)


class TaskQueue:
    """Enqueue and claim tasks. Thread-safe; one instance per process."""

    def __init__(
        self,
        db: Database,
        *,
        lease_seconds: float = 300,
        max_attempts: int = 8,
        aging_seconds: float = 3.0,
        heartbeat_seconds: float | None = None,
    ):
        self.db = db
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        #: Seconds of waiting that improve a non-chat task's priority by one (``worker.priority_aging_seconds``).
        self.aging_seconds = aging_seconds
        #: Renews the leases of the tasks claimed through this queue while this process lives; ``None`` without
        #: ``heartbeat_seconds`` (a lease then lasts ``lease_seconds`` from the claim, or :meth:`extend_lease`).
        self.heartbeat: Heartbeat | None = (
            Heartbeat(self._renew, heartbeat_seconds) if heartbeat_seconds is not None else None
        )
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._at_claim: dict[str, Prepare] = {}
        #: ``None`` in the embedded default. The distributed backend sets it so that every task gets a
        #: ``task_groups`` row (its tenant) in the same transaction, for fair dispatch across shops.
        self.grouper: Grouper | None = None

    def at_claim(self, kind: str, prepare: Prepare) -> None:
        """Run ``prepare(session, args)`` in the transaction that claims a task of ``kind`` (:meth:`claim`); its
        result reaches the handler as ``ctx.task.prepared``. For a handler whose first step is a short
        transaction of its own (a conversation takes its contact's lease): on SQLite each transaction waits for
        the one write lock and syncs the disk. A task claimed otherwise (:meth:`claim_id`), or whose ``prepare``
        raised (logged; its writes are undone), gets :data:`NOT_PREPARED`: the handler does that step itself."""
        self._at_claim[kind] = prepare

    def _prepare(self, conn: Any, row: Any) -> ClaimedTask:
        task = ClaimedTask(**row._mapping)
        prepare = self._at_claim.get(task.kind)
        if prepare is None:
            return task
        try:
            with Session(bind=conn) as session, session.begin_nested():
                prepared = prepare(session, task.args)
        except Exception:
            log.exception("preparing task %s %s at its claim failed; its handler does it", task.id, task.kind)
            return task
        return ClaimedTask(**row._mapping, prepared=prepared)

    def on_enqueue(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each enqueue in this process (wakes the embedded worker at once)."""
        self._listeners.append(callback)

    def notify(self) -> None:
        """Wake this process's workers now (call after committing a transaction that enqueued tasks).

        Inside :meth:`next_claim_here` (a worker thread running a task) the first call wakes nobody: that thread
        claims as soon as its task returns, and a second thread woken for the same follow-up (a webhook's
        conversation, a conversation's reply) would only spend a claim finding it gone."""
        local = self._local
        if getattr(local, "absorb", False):
            local.absorb = False
            return
        for callback in self._listeners:
            callback()

    @contextmanager
    def next_claim_here(self) -> Iterator[None]:
        """Mark this thread as one that claims again right after this block (see :meth:`notify` and
        :meth:`after_task`)."""
        local = self._local
        local.absorb = local.claims_next = True
        try:
            yield
        finally:
            local.absorb = local.claims_next = False

    def after_task(self, write: Callable[[Session], None], then: Callable[[], None] | None = None) -> None:
        """Run ``write`` (a few statements, no network I/O) after this thread's task, in the transaction of the
        claim that follows it, and ``then`` once that committed. Inside :meth:`next_claim_here` (the embedded
        worker, which marks the finished task done in that claim too); elsewhere both run at once, ``write`` in a
        transaction of its own. For a write that may come a moment later without harm (a sent message's channel
        id, which its status webhooks reconcile should the process die first): on SQLite every transaction waits
        for the one write lock and syncs the disk."""
        local = self._local
        if getattr(local, "claims_next", False):
            local.writes = [*getattr(local, "writes", []), (write, then)]
            return
        with self.db.session() as session:
            write(session)
        if then is not None:
            then()

    def flush_after_task(self) -> None:
        """Run what :meth:`after_task` left to this thread now (its worker stops instead of claiming again)."""
        if not getattr(self._local, "writes", []):
            return
        with self._writes_done() as writes, self.db.engine.begin() as conn:
            thens = self._run_writes(conn, writes)
        self._run_thens(thens)

    @contextmanager
    def _writes_done(self) -> Iterator[list[_AfterTask]]:
        """Take the writes :meth:`after_task` left to this thread for a transaction; should it fail, they are
        given back for the next one, once (a database that went away for a moment; a write that fails itself is
        not tried forever)."""
        local = self._local
        writes: list[_AfterTask] = getattr(local, "writes", [])
        local.writes = []
        try:
            yield writes
        except BaseException:
            if writes and not getattr(local, "writes_retried", False):
                local.writes, local.writes_retried = [*writes, *local.writes], True
            else:
                log.error("after a task: %s write(s) lost with a failed transaction", len(writes))
            raise
        local.writes_retried = False

    @staticmethod
    def _run_writes(conn: Any, writes: list[_AfterTask]) -> list[Callable[[], None]]:
        """``writes`` in the claim's transaction (``conn``); returns what is to run once it committed."""
        if not writes:
            return []
        # A session joined to the claim's transaction: the writes are written for sessions; the claim commits.
        with Session(bind=conn) as session:
            for write, _then in writes:
                write(session)
            session.flush()
        return [then for _write, then in writes if then is not None]

    @staticmethod
    def _run_thens(thens: list[Callable[[], None]]) -> None:
        for then in thens:
            try:
                then()
            except Exception:  # as a task's own failure after its work was done: logged, the next task runs
                log.exception("after a task: %r failed", then)

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
        values: dict[str, Any] = {
            "kind": kind,
            "args": args or {},
            "priority": priority,
            "due_at": datetime.now(UTC) + timedelta(seconds=delay),
            "idempotency_key": idempotency_key,
            "max_attempts": max_attempts or self.max_attempts,
        }
        if session is not None:
            return self._add(session, values)
        with self.db.session() as own:
            task_id = self._add(own, values)
        self.notify()
        return task_id

    def enqueue_many(
        self, kind: str, many_args: list[dict[str, Any]], *, session: Session, priority: int = 100
    ) -> list[int]:
        """Add one task of ``kind`` per item of ``many_args``, due now, in ``session``'s transaction and one INSERT
        (a group commit of webhooks queues one per delivery); their ids in order."""
        if not many_args:
            return []
        now = datetime.now(UTC)
        rows = [
            {"kind": kind, "args": args, "priority": priority, "due_at": now, "idempotency_key": None,
             "max_attempts": self.max_attempts}
            for args in many_args
        ]  # fmt: skip
        connection = session.connection()  # Core rows: none of the ORM's execution needed
        ids = insert_many_ids(connection, _tasks, rows)
        if self.grouper is not None:
            groups = [
                {"task_id": task_id, "group_key": self.grouper(session, kind, args)[:64]}
                for task_id, args in zip(ids, many_args, strict=True)
            ]
            connection.execute(_INSERT_GROUPS, groups)
        return ids

    def enqueue_coalesced(
        self,
        kind: str,
        coalesce_key: str,
        args: dict[str, Any],
        merge: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
        *,
        delay: float = 0,
        priority: int = 100,
    ) -> int:
        """Add a task, or fold ``args`` into the waiting task with the same ``coalesce_key``: returns its id.

        A waiting task is one no worker has read yet (``pending``, or ``queued`` for the broker): its arguments
        become ``merge(its_args, args)`` (the one due soonest, should a failed run's retry have left two). A task
        already running read its arguments when it was claimed, so a new task is added instead. Atomic with concurrent enqueues and claims: on SQLite every write transaction
        holds the one write lock; on PostgreSQL enqueues of one key take a transaction-level advisory lock, and
        the merge only updates a row that is still waiting (a claim that won the race leaves it unmatched).
        """
        waiting = and_(_tasks.c.coalesce_key == coalesce_key, _tasks.c.status.in_(("pending", "queued")))
        with self.db.session() as session:
            if self.db.is_postgres:
                session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(coalesce_key, 0))))
            row = session.execute(
                select(_tasks.c.id, _tasks.c.args).where(waiting).order_by(_tasks.c.due_at, _tasks.c.id).limit(1)
            ).first()
            task_id: int | None = None
            if row is not None:
                fold = update(_tasks).where(_tasks.c.id == row.id, waiting).values(args=merge(row.args, args))
                task_id = session.execute(fold.returning(_tasks.c.id)).scalar_one_or_none()
            if task_id is None:
                values = {
                    "kind": kind,
                    "args": args,
                    "priority": priority,
                    "due_at": datetime.now(UTC) + timedelta(seconds=delay),
                    "idempotency_key": None,
                    "coalesce_key": coalesce_key,
                    "max_attempts": self.max_attempts,
                }
                task_id = self._add(session, values)
        self.notify()
        assert task_id is not None  # no idempotency key: the insert always adds a row
        return task_id

    def _add(self, session: Session, values: dict[str, Any]) -> int | None:
        # A plain insert: a task is written once and never read back here, so the ORM's unit of work is overhead.
        task_id: int | None
        if values["idempotency_key"] is None:
            task_id = session.execute(_INSERT, values).scalar_one()
        else:
            # An existing key (enqueued before, or by someone else a moment ago) inserts nothing and returns no row.
            insert_new = _INSERT_NEW_PG if self.db.is_postgres else _INSERT_NEW_SQLITE
            task_id = session.execute(insert_new, values).scalar_one_or_none()
            if task_id is None:
                return None
        if self.grouper is not None:
            group = self.grouper(session, values["kind"], values["args"])[:64]
            session.add(TaskGroup(task_id=task_id, group_key=group))
        return int(task_id)

    def claim(self, worker: str, limit: int = 1, *, complete: int | None = None) -> list[ClaimedTask]:
        """Take up to ``limit`` due tasks (pending, or running with an expired lease), most urgent first: chat
        tasks by priority and age, then the rest by priority aged by waiting (see :mod:`connector.work.priorities`).

        ``complete``: a task this worker just finished, marked done in the same transaction (a worker claims its
        next task right after each one, and on SQLite every transaction waits for the one write lock)."""
        return self.claim_next(worker, limit, complete=complete)[0]

    def claim_next(self, worker: str, limit: int = 1, *, complete: int | None = None) -> tuple[list[ClaimedTask], bool]:
        """:meth:`claim`, and whether more tasks were due than it took (the embedded worker then wakes another
        thread; it looks one row further, in the same query)."""
        now = datetime.now(UTC)
        # A plain connection, no ORM session: nothing here needs one, and a worker claims after every task.
        with self._writes_done() as writes, self.db.engine.begin() as conn:
            thens = self._run_writes(conn, writes)
            if complete is not None:
                conn.execute(_DONE, {"task_id": complete, "now": now})
            query = _CLAIM_IDS_LOCKED if self.db.is_postgres else _CLAIM_IDS
            ids: list[int] = list(conn.scalars(query, {"now": now, "limit": limit + 1, "aging": self.aging_seconds}))
            if ids and self.heartbeat is not None:
                # A lease of this very process that ran out (its heartbeat stalled behind the write lock on a
                # loaded machine) is not a dead worker's: its thread is still on the task.
                held = self.heartbeat.held()
                ids = [task_id for task_id in ids if task_id not in held]
            # The row looked at beyond ``limit`` only says whether more is due (on PostgreSQL it stays locked, so
            # skipped by other workers, until this short transaction commits).
            more = len(ids) > limit
            ids = ids[:limit]
            claimed: list[ClaimedTask] = []
            if ids:
                params = {"ids": ids, "lease": now + timedelta(seconds=self.lease_seconds), "worker": worker}
                claimed = [self._prepare(conn, row) for row in conn.execute(_TAKE, params).all()]
        if complete is not None:
            self._release(complete)
        for task in claimed:
            self._hold(task.id, worker)
        self._run_thens(thens)
        return claimed, more

    def claim_id(self, task_id: int, worker: str) -> ClaimedTask | None:
        """Take one task by id (a distributed worker got its id from the broker); ``None`` if it is not claimable.

        Claimable means due and ``pending``/``queued``, or ``running`` with an expired lease (its worker died).
        A redelivered or duplicated broker message for a task that is running, done or failed claims nothing,
        so a task id published twice still runs once at a time.
        """
        if self.heartbeat is not None and task_id in self.heartbeat.held():
            return None  # this process is still on it (see :meth:`claim`)
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
        if row is None:
            return None
        self._hold(row.id, worker)
        return ClaimedTask(**row._mapping)

    def _hold(self, task_id: int, worker: str) -> None:
        if self.heartbeat is not None:
            self.heartbeat.hold(task_id, worker)

    def _release(self, task_id: int) -> None:
        if self.heartbeat is not None:
            self.heartbeat.release(task_id)

    def _renew(self, held: dict[int, str]) -> None:
        """One heartbeat: every task this process holds gets a fresh lease (one ``executemany`` UPDATE)."""
        lease = datetime.now(UTC) + timedelta(seconds=self.lease_seconds)
        with self.db.engine.begin() as conn:
            conn.execute(_RENEW, [{"task_id": i, "held_by": w, "lease": lease} for i, w in held.items()])

    def close(self) -> None:
        """Stop the heartbeat (the process shuts down)."""
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def extend_lease(self, task_id: int) -> None:
        """Keep a long task's claim (a full sync of a big catalog)."""
        with self.db.session() as session:
            session.execute(
                update(Task)
                .where(Task.id == task_id, Task.status == "running")
                .values(lease_until=datetime.now(UTC) + timedelta(seconds=self.lease_seconds))
            )

    def complete(self, task_id: int) -> None:
        with self._writes_done() as writes, self.db.engine.begin() as conn:
            thens = self._run_writes(conn, writes)
            conn.execute(_DONE, {"task_id": task_id, "now": datetime.now(UTC)})
        self._release(task_id)
        self._run_thens(thens)

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
        self._release(task_id)
        if 0 < delay <= _WAKE_FOR_RETRY_SECONDS:
            # Due soon (a contact busy with its previous message): wake a thread then, rather than leave it to the
            # one idle thread that polls (see connector.work.worker).
            timer = threading.Timer(delay, self.notify)
            timer.daemon = True
            timer.start()
        else:
            self.notify()

    def fail(self, task_id: int, error: str) -> None:
        """Give up on the task; it stays in the table with its error for the owner to see."""
        with self.db.session() as session:
            session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(status="failed", finished_at=datetime.now(UTC), lease_until=None, last_error=error[:2000])
            )
        self._release(task_id)

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
