"""Waits derived from progress, not from the wall clock (the cluster tests and the cluster launcher use them).

On a loaded machine (eight test sessions on two cores) a fan-out of 4,000 sends may take ten times as long as on
an idle one; a test that fails because the machine is slow is a test bug. :func:`wait_for_progress` waits for as
long as the work keeps moving and fails only when it stopped: when what ``progress()`` measures (messages sent,
rows stored, CPU used by the processes doing the work) has not changed for ``stall`` seconds. A hard cap
(``limit``) still ends a test whose work moves forever without finishing (a loop), far beyond any slow machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: Seconds without any progress after which a wait fails: long enough for a starved process on a machine at load
#: average 30, short enough that a stuck test ends in minutes, not at the suite's timeout.
STALL_SECONDS = 120.0


class NoProgress(AssertionError):
    """The awaited condition was not met and the work stopped moving."""


def wait_for_progress(
    done: Callable[[], Any],
    progress: Callable[[], Any],
    *,
    stall: float = STALL_SECONDS,
    limit: float = 3600.0,
    interval: float = 0.2,
    what: str = "",
) -> Any:
    """Poll ``done()`` until it returns something truthy (and return it).

    Fail when ``progress()`` (any comparable value: a count, a tuple of counts) has not changed for ``stall``
    seconds, or after ``limit`` seconds in all."""
    started = time.monotonic()
    last = progress()
    moved = started
    while True:
        value = done()
        if value:
            return value
        now = time.monotonic()
        current = progress()
        if current != last:
            last, moved = current, now
        elif now - moved > stall:
            raise NoProgress(f"{what or 'condition'}: no progress for {stall:g} s (last: {current!r})")
        if now - started > limit:
            raise NoProgress(f"{what or 'condition'}: still not met after {limit:g} s (last: {current!r})")
        time.sleep(interval)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the processes ``pids`` (those still alive), rounded to 0.1 s so
    an idle poll loop's crumbs do not count as progress."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:  # gone: it makes no more progress
            continue
        total += times.user + times.system
    return round(total, 1)
