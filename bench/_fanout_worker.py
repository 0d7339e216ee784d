"""``python -m bench._fanout_worker CONFIG``: an embedded worker alone in a process (the one the benchmark kills).

Diagnostics, both written when the process is asked to stop (SIGTERM; a SIGKILLed worker writes none):

* ``BENCH_PROFILE=FILE``: every thread runs under cProfile; the merged statistics go to ``FILE`` (pstats format);
* ``BENCH_LOCK_STATS=FILE``: how long each kind of transaction held the write lock (:mod:`bench._lockstats`), as
  JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable

from bench import _lockstats
from connector.config import load_config
from connector.runtime import Runtime
from connector.work.worker import EmbeddedWorker


def _profile_threads(path: str) -> Callable[[], None]:
    """cProfile in this thread and every thread started from now on; returns what writes the merged stats."""
    import cProfile
    import pstats

    profilers: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start(*_: object) -> None:
        sys.setprofile(None)
        profiler = cProfile.Profile()
        with lock:
            profilers.append(profiler)
        profiler.enable()

    threading.setprofile(start)
    start()

    def dump() -> None:
        with lock:
            for profiler in profilers:
                profiler.disable()
            pstats.Stats(*profilers).dump_stats(path)

    return dump


def main(path: str) -> None:
    on_stop: list[Callable[[], None]] = []
    if os.environ.get("BENCH_PROFILE"):
        on_stop.append(_profile_threads(os.environ["BENCH_PROFILE"]))
    rt = Runtime(load_config(path))
    if os.environ.get("BENCH_LOCK_STATS"):
        stats, target = _lockstats.attach(rt.db.engine), os.environ["BENCH_LOCK_STATS"]

        def write_lock_stats() -> None:
            with open(target, "w") as f:
                json.dump(stats.raw(), f)

        on_stop.append(write_lock_stats)
    if on_stop:

        def stop(*_: object) -> None:
            for write in on_stop:
                write()
            os._exit(0)

        signal.signal(signal.SIGTERM, stop)
    cfg = rt.config.worker
    worker = EmbeddedWorker(rt, threads=cfg.threads, poll_interval=cfg.poll_interval)
    worker.start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1])
