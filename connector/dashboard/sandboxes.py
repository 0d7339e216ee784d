"""Sandboxes for demo mode: started in-process by the setup wizard, and reached over their control API.

In demo mode (``[server] demo = true``) the wizard can start a shop sandbox and the Graph sandbox so
anyone can try the whole setup in a browser. The control API of a sandbox is found from a
connection's own settings (``shop_url`` of a shop, ``graph_url`` of a Meta channel), so sandboxes
started elsewhere (``connector demo``, tests) work the same.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import requests

from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.runtime import Runtime
    from connector.sandbox.base import Sandbox

TIMEOUT = 15


class DemoSandboxes:
    """Sandboxes this web app started, one per name, stopped with :meth:`stop_all`."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._running: dict[str, Sandbox] = {}
        #: Sandboxes started by someone else (``connector demo``): shared, never stopped here.
        self._adopted: set[str] = set()
        self._lock = threading.Lock()

    def adopt(self, name: str, sandbox: Sandbox) -> None:
        """Use ``sandbox`` (already running, started by its owner) as ``name``: the wizard then connects the very
        shop and Graph sandboxes ``connector demo`` started and printed the curl lines for, not new ones."""
        with self._lock:
            self._running[name] = sandbox
            self._adopted.add(name)

    def get(self, name: str) -> Sandbox:
        """The running sandbox ``name`` (``woocommerce``, ``graph``...), started on first use. Demo mode only."""
        if not self.runtime.config.server.demo:
            raise ConfigError("sandboxes are only offered in demo mode ([server] demo = true)")
        with self._lock:
            sandbox = self._running.get(name)
            if sandbox is None:
                classes = self.runtime.plugins.sandboxes()
                if name not in classes:
                    raise ConfigError(f"no sandbox named {name!r} (installed: {', '.join(sorted(classes))})")
                sandbox = classes[name]()
                sandbox.start()
                self._running[name] = sandbox
            return sandbox

    def names(self, kind: str) -> list[str]:
        """Names of the installed sandboxes of ``kind`` (``shop`` or ``channel``)."""
        return sorted(name for name, cls in self.runtime.plugins.sandboxes().items() if cls.kind == kind)

    def stop_all(self) -> None:
        with self._lock:
            for name, sandbox in self._running.items():
                if name not in self._adopted:
                    sandbox.stop()
            self._running.clear()
            self._adopted.clear()


def settings_for(adapter_cls: Any, offered: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's settings that ``adapter_cls`` declares (a sandbox offers a superset)."""
    names = {f.name for f in adapter_cls.config_fields}
    return {k: v for k, v in offered.items() if k in names}


class Control:
    """The ``/_sandbox/`` control API of a sandbox at ``base_url``."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/_sandbox/<path>``; raise :class:`ControlError` with the sandbox's reason on failure."""
        try:
            response = requests.request(method, f"{self.base_url}/_sandbox/{path}", timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ControlError(f"the sandbox at {self.base_url} is not reachable: {exc}") from None
        if response.status_code >= 400:
            try:
                reason = response.json().get("error") or response.text
            except ValueError:
                reason = response.text
            raise ControlError(f"the sandbox refused: {reason}")
        return response.json() if response.content else None


class ControlError(Exception):
    """A sandbox control call failed; the message says why."""


def shop_control(rt: Runtime, shop_id: int) -> Control | None:
    """The control API of the sandbox behind a shop connection, or ``None`` when it is a real shop."""
    url = rt.connections.settings_of(rt.connections.get_shop(shop_id)).get("shop_url")
    return _probe(url)


def graph_control(rt: Runtime, channel_id: int) -> Control | None:
    """The control API of the Graph sandbox behind a Meta channel connection, or ``None`` for the real Graph API."""
    url = rt.connections.settings_of(rt.connections.get_channel(channel_id)).get("graph_url")
    return _probe(url)


def _probe(url: Any) -> Control | None:
    if not isinstance(url, str) or "graph.facebook.com" in url or not url.startswith("http"):
        return None
    return Control(url)
