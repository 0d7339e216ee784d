"""Reading a shop while the last chunk is stored: an iterator consumed on its own thread, a bounded buffer ahead.

A catalog read waits on the shop (and, on Shopify, on its cost bucket) while storing waits on SQLite; one after
the other, a rate-limited read leaves the bucket filling up to its cap while a chunk is stored, and every read
leaves the network idle. :func:`read_ahead` overlaps them, holding at most ``limit`` items in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead(items: Iterator[T], limit: int, *, name: str = "read-ahead") -> Generator[T, None, None]:
    """Yield what ``items`` yields, in order, while a thread advances it up to ``limit`` items ahead.

    The whole of ``items`` runs on that one thread. An error it raises is raised here, after the items before
    it. When the consumer stops early (``close()``, an exception), the thread stops after its current item.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, limit))
    stop = threading.Event()

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own cleanup runs here, on the thread that ran it
        put(_DONE)

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            value = buffer.get()
            if value is _DONE:
                return
            if isinstance(value, _Failed):
                raise value.error
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
