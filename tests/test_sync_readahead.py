"""The catalog read runs ahead of storing on a thread of its own: same items, same order, errors and early
stops handled as a plain loop would."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from connector.sync.readahead import read_ahead


def test_items_come_in_order_and_at_most_limit_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(50):
            produced.append(i)
            yield i

    reader = read_ahead(source(), 5)
    assert next(reader) == 0
    # Waits derive from progress: the producer fills the buffer, then must stop (5 buffered, 1 in hand).
    for _ in range(200):
        if len(produced) >= 6:
            break
        threading.Event().wait(0.01)
    assert 6 <= len(produced) <= 7
    assert [0, *reader] == list(range(50))


def test_an_error_comes_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("shop answered 500")

    got: list[int] = []
    with pytest.raises(ValueError, match="shop answered 500"):
        for item in read_ahead(source(), 10):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_stops_and_closes_the_source_on_its_thread() -> None:
    closed_on: list[str] = []

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed_on.append(threading.current_thread().name)

    reader = read_ahead(source(), 3, name="catalog-read-test")
    assert next(reader) == 0
    reader.close()
    assert closed_on == ["catalog-read-test"]
    assert not any(t.name == "catalog-read-test" for t in threading.enumerate())
