"""Group commit: deliveries that arrive together are stored in one transaction, one disk sync for all of them.

A delivery is answered 200 only once it is durably stored, so every commit waits for the disk (``synchronous=FULL``
on SQLite, ``synchronous_commit`` on PostgreSQL): about 5 ms on this project's machines, which capped webhook
ingest at one delivery per sync (~200/s) however many threads served it. Here, the request threads that arrive
while a commit runs queue up, and the next one of them (the *leader*) writes the whole queue in one transaction;
the others wait for that commit and answer with their own result. Under light load a batch is one delivery, as
before; under a burst, batches grow by themselves with the sync time.

Nothing is answered before its commit. A batch that fails as a whole (a duplicate delivery id racing another
thread, a status that cannot be applied) is stored again one delivery at a time, each with the usual outcome
(``IntegrityError`` for a duplicate), so one bad delivery never costs the others theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")  # what a request hands in
R = TypeVar("R")  # what it gets back

#: ``write_batch(items)``: store every item in one transaction and return their results in order; raises if the
#: transaction failed (then nothing was stored).
WriteBatch = Callable[[list[Any]], list[Any]]
#: ``write_one(item)``: store one item on its own (its result, or it raises).
WriteOne = Callable[[Any], Any]


@dataclass(eq=False)
class _Waiting(Generic[T, R]):
    item: T
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: R | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Runs ``write_batch`` over the items of the threads that arrived while the previous batch was written."""

    def __init__(self, write_batch: Callable[[list[T]], list[R]], write_one: Callable[[T], R], max_batch: int = 256):
        self._write_batch = write_batch
        self._write_one = write_one
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Waiting[T, R]] = []
        self._leading = False

    def submit(self, item: T) -> R:
        """Store ``item`` (with whatever else is waiting) and return its result once committed."""
        me: _Waiting[T, R] = _Waiting(item)
        with self._lock:
            self._queue.append(me)
            me.lead = not self._leading
            self._leading = True
        if not me.lead:
            me.ready.wait()  # set with a result, or to make this thread the next leader
        if me.lead:
            self._lead()
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[return-value]  # set by the batch that stored it

    def _lead(self) -> None:
        """Write one batch (the oldest waiting, this thread's among them), then pass the lead on."""
        with self._lock:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        try:
            self._write(batch)
        finally:
            with self._lock:
                if self._queue:  # arrived meanwhile: the oldest of them writes the next batch
                    self._queue[0].lead = True
                    self._queue[0].ready.set()
                else:
                    self._leading = False

    def _write(self, batch: list[_Waiting[T, R]]) -> None:
        try:
            results = self._write_batch([w.item for w in batch])
        except Exception:
            # Nothing of the batch was stored: each on its own, with its own outcome.
            for waiting in batch:
                try:
                    waiting.result = self._write_one(waiting.item)
                except Exception as exc:
                    waiting.error = exc
        else:
            for waiting, result in zip(batch, results, strict=True):
                waiting.result = result
        for waiting in batch:
            waiting.lead = False
            waiting.ready.set()
