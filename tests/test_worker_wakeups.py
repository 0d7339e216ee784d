"""The embedded worker's idle threads: one polls, the others wait, and work found wakes the next thread."""

from __future__ import annotations

import threading

from connector.db import Database
from connector.runtime import Runtime
from connector.work.queue import TaskQueue
from connector.work.worker import EmbeddedWorker
from tests.conftest import wait_for

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
