"""Running the embedded deployment: the web app, the worker pool and the scheduler in one process.

The web app is served by waitress: HTTP/1.1 with keep-alive (Meta, Shopify and WooCommerce deliver webhooks over
kept-alive connections) and a fixed pool of request threads. Werkzeug's development server closed every
connection after one response and started a thread per request, which cost a webhook about a millisecond of CPU.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

from waitress import wasyncore
from waitress.server import create_server

from connector.web.app import create_app
from connector.work.scheduler import Scheduler
from connector.work.worker import EmbeddedWorker

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

#: Request threads of the embedded web server: webhooks, the admin API and the dashboard.
HTTP_THREADS = 16


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
        # Waitress warns per request queued behind busy threads; a burst of webhooks is no news.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self.http = create_server(
            self.app,
            host=host or cfg.server.host,
            port=cfg.server.port if port is None else port,
            threads=HTTP_THREADS,
            connection_limit=1000,
            channel_timeout=60,
            ident="chatshop-connector",
            # Headers reach the app as sent, as they did under werkzeug (no proxy is trusted, none is cleared).
            clear_untrusted_proxy_headers=False,
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
        return f"http://{self.http.effective_host}:{self.http.effective_port}"

    def start(self) -> None:
        if self.worker:
            self.worker.start()
        if self.scheduler:
            self.scheduler.start()
        self._thread = threading.Thread(target=self.http.run, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        # The event loop runs until its socket map is empty; empty it from inside the loop (the trigger is the
        # thread-safe way in), which also closes every open client connection.
        socket_map = self.http._map
        if self._thread is None:
            wasyncore.close_all(socket_map)
        else:
            try:
                self.http.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
            except OSError:  # the loop has ended already and closed its trigger
                wasyncore.close_all(socket_map)
            self._thread.join(timeout=5)
        self.http.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
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
