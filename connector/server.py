"""Running the embedded deployment: the web app, the worker pool and the scheduler in one process."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

from werkzeug.serving import make_server

from connector.web.app import create_app
from connector.work.scheduler import Scheduler
from connector.work.worker import EmbeddedWorker

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger(__name__)


class EmbeddedServer:
    """Web app + worker + scheduler, started and stopped together."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        host: str | None = None,
        port: int | None = None,
        scheduler: bool = True,
        worker: bool = True,
    ):
        self.runtime = runtime
        cfg = runtime.config
        self.app = create_app(runtime=runtime)
        self.http = make_server(
            host or cfg.server.host, cfg.server.port if port is None else port, self.app, threaded=True
        )
        self.worker = (
            EmbeddedWorker(runtime, threads=cfg.worker.threads, poll_interval=cfg.worker.poll_interval)
            if worker
            else None
        )
        self.scheduler = Scheduler(runtime) if scheduler and cfg.scheduler.enabled else None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.http.server_address[0]}:{self.http.server_port}"

    def start(self) -> None:
        if self.worker:
            self.worker.start()
        if self.scheduler:
            self.scheduler.start()
        self._thread = threading.Thread(target=self.http.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.http.shutdown()
        if self.scheduler:
            self.scheduler.stop()
        if self.worker:
            self.worker.stop()


def serve_forever(runtime: Runtime, **kwargs: object) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly (running tasks finish or are re-claimed after their lease)."""
    server = EmbeddedServer(runtime, **kwargs)  # type: ignore[arg-type]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    log.info("serving on %s", server.url)
    print(f"Chatshop Connector listening on {server.url}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
