"""Can the platforms reach this connector? Webhooks and approval callbacks need a public HTTPS address.

Meta calls webhooks and checks callback URLs over HTTPS only; WordPress refuses to post to private addresses.
What can be checked from here: the public URL is HTTPS, its host name resolves to public addresses only, and
``<public URL>/healthz`` answers with a valid certificate. Whether the internet really gets through (a firewall in
front) only the platform's own handshake proves; the setup steps run it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

#: Said whenever the address is not public HTTPS: the two ways to get one.
OPTIONS = (
    "Give this server a public HTTPS address: either a reverse proxy with a certificate in front of it (Caddy, "
    "nginx or Traefik with Let's Encrypt, see docs/operations.md 'Public HTTPS'), or a tunnel (Cloudflare Tunnel, "
    "ngrok, Tailscale Funnel); then set [server] public_url to that https:// address."
)


@dataclass(frozen=True, slots=True)
class Reachability:
    """``ok``, ``warn`` or ``fail``, what was found, and what to do about it."""

    status: str
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _private(host: str) -> str | None:
    """Why ``host`` is not reachable from the internet, or ``None`` when all its addresses are public."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        return f"{host} does not resolve ({exc})"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return f"{host} resolves to {address}, a private or local address"
    return None


def check_public_https(public_url: str, *, probe: bool = True, timeout: float = 10.0) -> Reachability:
    """The verdict on ``public_url`` (``[server] public_url``); ``probe``: also fetch ``/healthz`` over HTTPS."""
    parts = urlsplit(public_url)
    host = parts.hostname or ""
    if parts.scheme != "https":
        return Reachability(
            "fail", f"the public URL {public_url} is not HTTPS: Meta and WooCommerce only call HTTPS addresses", OPTIONS
        )
    problem = _private(host)
    if problem is not None:
        return Reachability("fail", f"{problem}: the platforms cannot reach it", OPTIONS)
    if not probe:
        return Reachability("ok", f"{public_url} is HTTPS on a public host (not fetched)")
    try:
        response = requests.get(f"{public_url.rstrip('/')}/healthz", timeout=timeout)
    except requests.exceptions.SSLError as exc:
        return Reachability("fail", f"{public_url} has no valid certificate: {exc}", OPTIONS)
    except requests.RequestException as exc:
        return Reachability("fail", f"{public_url}/healthz does not answer: {exc}", OPTIONS)
    if response.status_code != 200:
        return Reachability(
            "warn",
            f"{public_url}/healthz answered HTTP {response.status_code}, not this connector",
            "point the proxy or tunnel at this server's port",
        )
    return Reachability("ok", f"{public_url} answers over HTTPS with a valid certificate")
