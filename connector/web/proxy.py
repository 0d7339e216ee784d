"""Believe ``X-Forwarded-*`` headers only from configured reverse proxies (``[server] trusted_proxies``).

Behind a proxy every request comes from the proxy's address; werkzeug's :class:`ProxyFix` restores the client's
address, scheme, host and port from the headers the proxy adds. Applied to every request, it would let any
client claim any address, so :class:`TrustedProxyFix` applies it only when the direct peer is a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxyFix:
    """WSGI middleware: :class:`ProxyFix` with ``hops`` for requests from ``trusted``, the bare app otherwise."""

    def __init__(self, app: WSGIApplication, trusted: Iterable[str], hops: int = 1):
        self.app = app
        self.networks: tuple[_Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in trusted)
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)

    def is_trusted(self, address: str | None) -> bool:
        """Whether ``address`` (the direct peer) is one of the trusted proxies."""
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.is_trusted(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def install(app: Any, trusted: Iterable[str], hops: int) -> None:
    """Wrap ``app.wsgi_app`` (a Flask app) when any proxy is trusted; with none, nothing changes."""
    trusted = list(trusted)
    if trusted:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, trusted, hops)
