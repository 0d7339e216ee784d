"""Running the embedded deployment: the web app, the worker pool and the scheduler in one process.

The web app is served by waitress: HTTP/1.1 with keep-alive (Meta, Shopify and WooCommerce deliver webhooks over
kept-alive connections) and a fixed pool of request threads. Werkzeug's development server closed every
connection after one response and started a thread per request, which cost a webhook about a millisecond of CPU.

The listener runs on ``poll()`` (``select()`` fails for descriptors above 1023 and killed the listener thread for
good), accepts at most as many connections as the descriptor limit leaves room for (:mod:`connector.fdlimit`),
closes idle ones after ``[server] idle_timeout_seconds`` and refuses bodies above the largest route limit before
reading them (the app applies each route's own limit, :mod:`connector.web.limits`). Should the listener thread end
all the same, :meth:`EmbeddedServer.wait` returns and ``connector serve`` exits non-zero, so a supervisor restarts it.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

from waitress import wasyncore
from waitress.server import create_server

from connector.fdlimit import connection_limit, raise_nofile_limit
from connector.listener import QuietChannel
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
        server = cfg.server
        self.connection_limit = connection_limit(raise_nofile_limit(), server.connection_limit)
        self.http = create_server(
            self.app,
            host=host or server.host,
            port=server.port if port is None else port,
            threads=HTTP_THREADS,
            asyncore_use_poll=True,
            connection_limit=self.connection_limit,
            channel_timeout=server.idle_timeout_seconds,
            # Idle connections are looked for this often (waitress' default, 30 s, would double a short timeout).
            cleanup_interval=max(1, min(30, server.idle_timeout_seconds // 2)),
            max_request_body_size=max(
                server.max_webhook_body_bytes, server.max_api_body_bytes, server.max_form_body_bytes
            ),
            ident="chatshop-connector",
            # Headers reach the app as sent, as they did under werkzeug (no proxy is trusted, none is cleared).
            clear_untrusted_proxy_headers=False,
        )
        self.http.channel_class = QuietChannel  # waitress's own busy-loops while a request thread writes
        self.worker = (
            EmbeddedWorker(runtime, threads=cfg.worker.threads, poll_interval=cfg.worker.poll_interval)
            if worker
            else None
        )
        self.scheduler = Scheduler(runtime) if scheduler and cfg.scheduler.enabled else None
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: Set when the listener thread ended while the server was not being stopped.
        self.listener_died = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.http.effective_host}:{self.http.effective_port}"

    def start(self) -> None:
        if self.worker:
            self.worker.start()
        if self.scheduler:
            self.scheduler.start()
        self._thread = threading.Thread(target=self._listen, name="http", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        """The listener's event loop; its end, unless :meth:`stop` asked for it, is a failure of the process."""
        try:
            self.http.run()
        except BaseException:
            log.critical("the HTTP listener failed; webhooks, the API and the dashboard are down", exc_info=True)
        finally:
            if not self._stopping:
                log.critical("the HTTP listener thread ended; stopping so a supervisor can restart the process")
                self.listener_died.set()

    def wait(self, stop: threading.Event, poll_seconds: float = 1.0) -> int:
        """Block until ``stop`` is set (0) or the listener died (1): the process's exit status."""
        while not stop.is_set():
            if self.listener_died.wait(poll_seconds):
                return 1
        return 0

    def stop(self) -> None:
        self._stopping = True
        # The event loop runs until its socket map is empty; empty it from inside the loop (the trigger is the
        # thread-safe way in), which also closes every open client connection.
        socket_map = self.http._map
        if self._thread is None or not self._thread.is_alive():
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


def serve_forever(runtime: Runtime, **kwargs: object) -> int:
    """Run until SIGINT or SIGTERM, then stop cleanly (running tasks finish or are re-claimed after their lease).
    Returns the exit status: 0 after a signal, 1 when the listener died (webhooks would otherwise go unanswered
    while the process kept running, and ``Restart=always`` would never fire)."""
    server = EmbeddedServer(runtime, **kwargs)  # type: ignore[arg-type]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    log.info("serving on %s (at most %s connections)", server.url, server.connection_limit)
    print(f"Chatshop Connector listening on {server.url}", flush=True)
    status = 0
    try:
        status = server.wait(stop)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return status
