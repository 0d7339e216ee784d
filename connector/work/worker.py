"""The embedded worker: a small thread pool inside ``connector serve`` that runs queued tasks.

It depends only on :class:`~connector.work.queue.TaskQueue` and the task registry, so a distributed
queue can take its place without touching handlers or plugins.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from typing import TYPE_CHECKING

from connector.errors import PlatformError
from connector.liveness import Heartbeat
from connector.work.queue import ClaimedTask, Retry, backoff_seconds
from connector.work.registry import TaskContext

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

#: An idle thread that is not the poller still claims once every this many poll intervals (a safety net).
_SAFETY_POLLS = 30


def run_task(runtime: Runtime, task: ClaimedTask) -> bool:
    """Run one claimed task and record its outcome. Returns True when it finished for good (done or failed)."""
    outcome = _run(runtime, task)
    if outcome is None:
        runtime.queue.complete(task.id)
        return True
    return outcome


def _run(runtime: Runtime, task: ClaimedTask) -> bool | None:
    """Run one claimed task; record a retry or a failure. ``None`` when the handler succeeded and the task is
    still to be marked done (the embedded worker does that in the transaction of its next claim)."""
    queue = runtime.queue
    handler = runtime.tasks.get(task.kind)
    if handler is None:
        queue.fail(task.id, f"no handler for task kind {task.kind!r} (is the plugin that provides it disabled?)")
        return True
    try:
        handler(TaskContext(runtime, task), **task.args)
    except Retry as exc:
        log.info("task %s %s: retry in %.1fs: %s", task.id, task.kind, exc.delay, exc.reason)
        queue.retry(task.id, exc.delay, exc.reason, count_attempt=False)
        return False
    except Exception as exc:  # a task must never kill its worker
        retryable = not isinstance(exc, PlatformError) or exc.retryable
        detail = f"{type(exc).__name__}: {exc}"
        if retryable and task.attempts < task.max_attempts:
            delay = getattr(exc, "retry_after", None) or backoff_seconds(task.attempts)
            log.warning(
                "task %s %s failed (attempt %s), retrying in %.1fs: %s",
                task.id,
                task.kind,
                task.attempts,
                delay,
                detail,
            )
            queue.retry(task.id, delay, detail)
            return False
        log.error("task %s %s failed for good: %s\n%s", task.id, task.kind, detail, traceback.format_exc())
        queue.fail(task.id, detail)
        return True
    return None


class EmbeddedWorker:
    """``threads`` threads that claim and run tasks until :meth:`stop`."""

    def __init__(self, runtime: Runtime, *, threads: int = 4, poll_interval: float = 0.5):
        self.runtime = runtime
        self.threads = threads
        self.poll_interval = poll_interval
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._pending_wakeups = 0
        #: The idle thread that polls the queue every ``poll_interval`` (for delayed tasks and tasks other processes
        #: enqueued); the other idle threads wait for a wake-up. ``None``: no thread polls now.
        self._poller: int | None = None
        #: Threads waiting in :meth:`_idle` now.
        self._idle_threads = 0
        self._threads: list[threading.Thread] = []
        self._heartbeat: Heartbeat | None = None
        runtime.queue.on_enqueue(self.wake)

    def wake(self) -> None:
        """New work was enqueued in this process: one idle thread stops waiting and claims it now (a thread that
        finishes a task claims the next one anyway; waking them all would cost a claim each for one task)."""
        with self._wake:
            self._pending_wakeups += 1
            self._wake.notify()

    def start(self) -> None:
        self._heartbeat = Heartbeat(self.runtime, "worker")
        self._heartbeat.start()
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    def _loop(self) -> None:
        worker = f"{self.name}:{threading.current_thread().name}"
        queue = self.runtime.queue
        done: int | None = None  # a finished task, marked done in the transaction of the next claim
        while not self._stop.is_set():
            try:
                claimed, more = queue.claim_next(worker, complete=done)
                done = None
            except Exception:  # the database went away for a moment: log, wait, try again
                log.exception("claiming a task failed")
                self._stop.wait(self.poll_interval * 4)
                continue
            if claimed:
                self._found_work(more)
                with queue.next_claim_here():
                    outcome = _run(self.runtime, claimed[0])
                if outcome is None:
                    done = claimed[0].id
                continue
            self._idle()
        try:
            if done is not None:
                queue.complete(done)
            else:
                queue.flush_after_task()
        except Exception:  # its lease runs out and it runs again: handlers are idempotent
            log.exception("marking task %s done failed", done)

    def _idle(self) -> None:
        """Wait for work: a wake-up (work enqueued in this process), or, for the one polling thread, the poll
        interval. Polling with every idle thread would cost a claim (a write transaction) per thread and interval,
        which an idle connector pays for every message it answers."""
        me = threading.get_ident()
        with self._wake:
            self._idle_threads += 1
            try:
                while not self._stop.is_set():
                    if self._pending_wakeups > 0:
                        self._pending_wakeups -= 1
                        return
                    if self._poller is None:
                        self._poller = me
                    # The others poll rarely, as a safety net only. A notification without a wake-up to take is a
                    # hand-over of the polling (see _found_work): look again.
                    timeout = self.poll_interval if self._poller == me else self.poll_interval * _SAFETY_POLLS
                    if not self._wake.wait(timeout):
                        return  # time to poll
            finally:
                self._idle_threads -= 1

    def _found_work(self, more: bool) -> None:
        """This thread found work. If it was the poller, an idle thread takes the polling over (tasks that other
        processes enqueue, or that come due, are found within the poll interval while this one is busy). And when
        ``more`` tasks were due than it took, one more idle thread looks now. Work that another process enqueued
        (the web process, another worker, a fan-out) wakes no thread here, so without this chain one thread per
        poll interval would find it; the chain ends with the thread that takes the last due task (waking one more
        there cost a claim that found nothing per task: ~4 write transactions per chat order)."""
        me = threading.get_ident()
        with self._wake:
            if self._poller == me:
                self._poller = None
            elif not more:
                return
            if more and self._idle_threads > self._pending_wakeups:
                self._pending_wakeups += 1
            self._wake.notify()


def drain(runtime: Runtime, *, max_tasks: int | None = None, worker: str = "cli") -> int:
    """Run due tasks in this thread until none is due; return how many ran (``connector sync``, tests)."""
    ran = 0
    while max_tasks is None or ran < max_tasks:
        claimed = runtime.queue.claim(worker)
        if not claimed:
            break
        run_task(runtime, claimed[0])
        ran += 1
    return ran
