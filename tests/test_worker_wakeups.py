"""The embedded worker's idle threads: one polls, the others wait, and work found wakes the next thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from connector.db import Database
from connector.runtime import Runtime
from connector.work.queue import ClaimedTask, TaskQueue
from connector.work.worker import EmbeddedWorker
from tests.conftest import WAIT_BOUND, wait_for

THREADS = 4
#: Far longer than the test may take: a thread that only polls this often would never reach the others in time.
POLL_INTERVAL = 20.0


def test_work_another_process_enqueued_reaches_every_thread_after_one_poll(runtime: Runtime) -> None:
    """Tasks enqueued by another process (a web process, a fan-out) wake no thread here: the polling thread finds
    one, and each thread that finds work wakes the next, so all four run at once after a single poll. Without the
    chain the next thread would only look a poll interval (20 s) later, and the barrier would break."""
    together = threading.Barrier(THREADS, timeout=POLL_INTERVAL * 0.75)
    runtime.tasks.register("test.together", lambda ctx, **_: together.wait())
    worker = EmbeddedWorker(runtime, threads=THREADS, poll_interval=POLL_INTERVAL)
    worker.start()
    other = TaskQueue(Database(str(runtime.db.engine.url)))  # another process's queue: its enqueues wake nobody here
    try:
        for _ in range(THREADS):
            other.enqueue("test.together")
        wait_for(lambda: runtime.queue.counts() == {"done": THREADS}, timeout=3 * POLL_INTERVAL)
    finally:
        worker.stop()
        other.close()
        other.db.dispose()
    assert not together.broken


def test_a_task_enqueued_here_costs_no_claim_beyond_its_own(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task enqueued in this process wakes one thread, which takes it; no other thread is woken to look for more
    when none is due (each such look is a write transaction that finds nothing: ~4 per chat order). Per task that
    leaves the claim that takes it and the one that marks it done on the way to the next."""
    runtime.tasks.register("test.one", lambda ctx, **_: None)
    # No poll within the test, however slow the machine: every claim counted below is a wake-up's or a task's.
    worker = EmbeddedWorker(runtime, threads=THREADS, poll_interval=3600.0)
    empty = 0
    counting = threading.Lock()
    claim_next = runtime.queue.claim_next

    def counted(*args: Any, **kwargs: Any) -> tuple[list[ClaimedTask], bool]:
        nonlocal empty
        claimed, more = claim_next(*args, **kwargs)
        if not claimed:
            with counting:
                empty += 1
        return claimed, more

    monkeypatch.setattr(runtime.queue, "claim_next", counted)
    worker.start()
    try:
        # Every thread's first look at the empty queue, then one task at a time.
        assert wait_for(lambda: empty >= THREADS, timeout=WAIT_BOUND)
        tasks = 10
        for done in range(1, tasks + 1):
            runtime.queue.enqueue("test.one")
            assert wait_for(lambda done=done: runtime.queue.counts() == {"done": done}, timeout=WAIT_BOUND)
        # The last task's thread marks it done in its next claim, which finds nothing: wait for that one.
        assert wait_for(lambda: empty >= THREADS + tasks, timeout=WAIT_BOUND)
    finally:
        worker.stop()
    assert empty == THREADS + tasks
