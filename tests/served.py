"""The requests a sandbox answered, recorded on the server's side: tests assert on work done (requests, pages)
instead of on wall-clock time, which depends on how loaded the machine is."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from flask import request, request_started


@dataclass(frozen=True, slots=True)
class ServedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: bytes


class Served:
    """Every request ``sandbox``'s app handles from now on (Flask's ``request_started`` signal, so nothing in the
    request's path changes)."""

    def __init__(self, sandbox: Any):
        self.requests: list[ServedRequest] = []
        self._lock = threading.Lock()
        self._app = sandbox._server.app
        request_started.connect(self._record, self._app)

    def _record(self, _sender: Any, **_: Any) -> None:
        served = ServedRequest(request.method, request.path, dict(request.args), request.get_data())
        with self._lock:
            self.requests.append(served)

    def api(self) -> list[ServedRequest]:
        """The API requests (not the sandbox's own control endpoints)."""
        with self._lock:
            return [r for r in self.requests if not r.path.startswith("/_sandbox")]

    def stop(self) -> None:
        request_started.disconnect(self._record, self._app)
