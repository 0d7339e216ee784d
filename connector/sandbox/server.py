"""Serve a WSGI app on a local port in a background thread.

The sandboxes stand in for platforms that keep HTTP/1.1 connections alive (Meta's Graph API, Shopify,
WooCommerce and Shopware all do), so they are served by waitress, which does too. Werkzeug's development
server closes every connection after one response: a client would then pay a TCP handshake and the server a
new thread per request, and every benchmark would measure that instead of the connector.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

#: Worker threads per sandbox: enough for the connector's concurrent sends and webhook traffic.
THREADS = 16


class SandboxServer:
    """A threaded HTTP/1.1 server for one sandbox app. ``port=0`` picks a free port.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = THREADS):
        self.app = app
        self.host = host
        self.port = port
        self.threads = threads
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self._server.effective_port}"

    def start(self) -> str:
        # Waitress logs a line per queued-up request under load; the sandboxes' traffic is not news.
        logging.getLogger("waitress").setLevel(logging.ERROR)
        self._server = create_server(
            self.app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            connection_limit=1000,
            channel_timeout=60,
            ident="sandbox",
            clear_untrusted_proxy_headers=False,
        )
        self._thread = threading.Thread(target=self._server.run, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # The event loop runs until its socket map is empty; empty it from inside the loop (the trigger is
            # the thread-safe way in), which also closes every open client connection.
            socket_map = server._map
            try:
                server.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
            except OSError:  # the loop has ended already and closed its trigger
                wasyncore.close_all(socket_map)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if server is not None:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
