"""The task queue: idempotent enqueue, leases, retries, and no task claimed twice by concurrent workers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from connector.db import Database
from connector.db.migrate import upgrade
from connector.db.models import Task
from connector.work.queue import TaskQueue
from tests.conftest import wait_for


def _queue(url: str, lease: float = 300, heartbeat: float | None = None) -> TaskQueue:
    db = Database(url)
    upgrade(db)
    return TaskQueue(db, lease_seconds=lease, heartbeat_seconds=heartbeat)


def test_enqueue_claim_complete(database_url: str) -> None:
    queue = _queue(database_url)
    task_id = queue.enqueue("demo.task", {"shop": 1})
    [claimed] = queue.claim("w1")
    assert (claimed.id, claimed.kind, claimed.args, claimed.attempts) == (task_id, "demo.task", {"shop": 1}, 1)
    assert queue.claim("w2") == []  # a claimed task is not handed out twice
    queue.complete(task_id)
    assert queue.counts() == {"done": 1}
    queue.db.dispose()


def test_idempotency_key_enqueues_once(database_url: str) -> None:
    queue = _queue(database_url)
    assert queue.enqueue("a", idempotency_key="tick-1") is not None
    assert queue.enqueue("a", idempotency_key="tick-1") is None
    assert queue.counts() == {"pending": 1}
    queue.db.dispose()


def test_expired_lease_makes_a_dead_workers_task_claimable_again(database_url: str) -> None:
    queue = _queue(database_url, lease=1)
    task_id = queue.enqueue("a")
    assert queue.claim("dies")[0].id == task_id
    assert queue.claim("other") == []
    time.sleep(1.2)
    [again] = queue.claim("other")
    assert again.id == task_id and again.attempts == 2
    queue.db.dispose()


def test_a_live_workers_heartbeat_keeps_its_slow_task_and_a_dead_ones_task_is_taken_over_within_the_lease(
    database_url: str,
) -> None:
    """Issue 15: a task outlasting its lease is not taken from a worker process that is alive (its heartbeat renews
    the lease); once that process stops beating (killed), another takes the task over within the lease."""
    lease = 3.0  # fifteen heartbeats: a loaded machine may starve the heartbeat thread for a while
    busy = _queue(database_url, lease=lease, heartbeat=0.2)  # one worker process
    other = _queue(database_url, lease=lease, heartbeat=0.2)  # another, on the same database
    task_id = busy.enqueue("slow.task")
    assert busy.claim("busy:1:worker-0")[0].id == task_id
    deadline = time.monotonic() + 2 * lease  # the task runs for two leases: nobody else may take it meanwhile
    while time.monotonic() < deadline:
        assert other.claim("other:2:worker-0") == []
        time.sleep(0.1)
    assert busy.heartbeat is not None
    busy.heartbeat.stop()  # the process dies: no more heartbeats
    died = time.monotonic()
    [again] = wait_for(lambda: other.claim("other:2:worker-0"), timeout=10 * lease)
    assert (again.id, again.attempts) == (task_id, 2)
    assert time.monotonic() - died < 5 * lease  # taken over in about a lease (a loaded machine: a few), not minutes
    other.complete(task_id)
    assert other.counts() == {"done": 1}
    busy.db.dispose()
    other.close()
    other.db.dispose()


def test_a_process_never_takes_back_a_task_its_own_thread_is_still_running(database_url: str) -> None:
    """A lease of this process that ran out (its heartbeat stalled behind SQLite's write lock on a loaded machine)
    does not make the task claimable by another thread of the same process: that thread is still on it."""
    queue = _queue(database_url, lease=0.2, heartbeat=60)  # the heartbeat will not beat before the lease ends
    task_id = queue.enqueue("slow.task")
    assert queue.claim("me:1:worker-0")[0].id == task_id
    time.sleep(0.3)  # the lease is over; the thread that claimed the task has not finished it
    assert queue.claim("me:1:worker-1") == []
    assert queue.claim_id(task_id, "me:1:worker-1") is None
    queue.complete(task_id)
    assert queue.counts() == {"done": 1}
    queue.close()
    queue.db.dispose()


def test_retry_waits_and_failure_is_kept_with_its_error(database_url: str) -> None:
    queue = _queue(database_url)
    task_id = queue.enqueue("a")
    queue.claim("w")
    queue.retry(task_id, 60, "platform said 503")
    assert queue.claim("w") == []  # not due yet
    assert 50 < (queue.next_due_in() or 0) <= 60
    queue.fail(task_id, "gave up")
    assert queue.counts() == {"failed": 1}
    queue.db.dispose()


def test_concurrent_workers_never_claim_the_same_task(database_url: str) -> None:
    queue = _queue(database_url)
    with queue.db.session() as session:
        for i in range(300):
            queue.enqueue("n", {"i": i}, session=session)
    claimed: Counter[int] = Counter()
    lock = threading.Lock()

    def work(name: str) -> None:
        while batch := queue.claim(name, limit=5):
            with lock:
                claimed.update(t.id for t in batch)
            for t in batch:
                queue.complete(t.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 300
    assert max(claimed.values()) == 1
    queue.db.dispose()


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()


def test_a_write_left_after_a_task_commits_with_the_claim_that_marks_the_task_done(database_url: str) -> None:
    from sqlalchemy import update

    from connector.db.models import Task

    queue = _queue(database_url)
    first, second = queue.enqueue("a"), queue.enqueue("b")
    [task] = queue.claim("w")
    told: list[dict[str, int]] = []

    def note(session: Session) -> None:
        session.execute(update(Task).where(Task.id == second).values(last_error="noted by the first"))

    with queue.next_claim_here():  # the embedded worker's thread, running the task
        queue.after_task(note, lambda: told.append(queue.counts()))
    assert told == [] and _error_of(queue, second) is None  # not written yet: it waits for the next claim
    [following] = queue.claim("w", complete=task.id)
    assert (task.id, following.id) == (first, second)
    # The write, the first task done and the second claimed in one transaction; the follow-up ran after it.
    assert _error_of(queue, second) == "noted by the first"
    assert told == [{"done": 1, "running": 1}]
    # A worker that stops instead of claiming again writes what its last task left.
    with queue.next_claim_here():
        queue.after_task(note, lambda: told.append({"stopped": 1}))
    queue.flush_after_task()
    assert told[-1] == {"stopped": 1}
    # Outside a worker's task it is written at once.
    queue.after_task(note, lambda: told.append({}))
    assert told[-1] == {}
    queue.db.dispose()


def test_work_done_at_a_claim_reaches_the_handler_and_a_failing_one_still_claims(database_url: str) -> None:
    from sqlalchemy import select

    from connector.db.models import Task
    from connector.work.queue import NOT_PREPARED

    queue = _queue(database_url)
    queue.at_claim(
        "seen", lambda session, args: (args["n"], session.scalar(select(Task.status).where(Task.kind == "seen")))
    )
    queue.at_claim("broken", lambda session, args: 1 / 0)
    queue.enqueue("seen", {"n": 7})
    [seen] = queue.claim("w")
    assert seen.prepared == (7, "running")  # in the claim's transaction, after the claim
    queue.enqueue("broken")
    [broken] = queue.claim("w", complete=seen.id)
    assert broken.kind == "broken" and broken.prepared is NOT_PREPARED  # claimed all the same; the handler does it
    assert queue.counts() == {"done": 1, "running": 1}
    queue.db.dispose()


def _error_of(queue: TaskQueue, task_id: int) -> str | None:
    from connector.db.models import Task

    with queue.db.session() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return task.last_error


def test_many_tasks_enqueued_at_once_get_their_own_ids_in_few_statements(database_url: str) -> None:
    """A batch of tasks (a burst of webhooks, a fan-out's sends) is one INSERT, and every id returned belongs to
    the task at its position: a mix-up would process one delivery twice and another never. On SQLite,
    SQLAlchemy's ordered RETURNING had sent one INSERT per row."""
    queue = _queue(database_url)
    queue.enqueue("filler", {"n": -1})  # ids do not start at 1
    statements: list[str] = []
    event.listen(queue.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    many = [{"event_id": 1000 + n} for n in range(300)]
    with queue.db.session() as session:
        ids = queue.enqueue_many("webhook.process", many, session=session)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) <= 2  # one, or a few where the driver caps the parameters of one statement
    with queue.db.session() as session:
        stored = dict(session.execute(select(Task.id, Task.args).where(Task.kind == "webhook.process")).all())
    assert [stored[task_id] for task_id in ids] == many
    queue.db.dispose()


def test_ids_sqlite_drew_at_random_are_refused_rather_than_paired_with_the_wrong_tasks(tmp_path: Path) -> None:
    """Once a table's largest rowid is SQLite's maximum, SQLite gives new rows random ids: their order no longer
    says which row got which id. The batch is refused (its transaction rolls back) instead of handing a delivery's
    task to another delivery."""
    queue = _queue(f"sqlite:///{tmp_path / 'connector.db'}")
    first = queue.enqueue("filler", {"n": 0})
    with queue.db.engine.begin() as conn:
        conn.execute(text("UPDATE tasks SET id = 9223372036854775807 WHERE id = :id"), {"id": first})
    with pytest.raises(RuntimeError, match="not consecutive"), queue.db.session() as session:
        queue.enqueue_many("webhook.process", [{"event_id": n} for n in range(20)], session=session)
    with queue.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 1  # nothing of the batch was kept
    queue.db.dispose()
