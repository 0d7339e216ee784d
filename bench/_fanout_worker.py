"""``python -m bench._fanout_worker CONFIG``: an embedded worker alone in a process (the one the benchmark kills)."""

from __future__ import annotations

import sys
import threading

from connector.config import load_config
from connector.runtime import Runtime
from connector.work.worker import EmbeddedWorker


def main(path: str) -> None:
    rt = Runtime(load_config(path))
    cfg = rt.config.worker
    worker = EmbeddedWorker(rt, threads=cfg.threads, poll_interval=cfg.poll_interval)
    worker.start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1])
