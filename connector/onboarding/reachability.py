"""Can the platforms reach this deployment? The approval flows post keys (WooCommerce), call the registration URL
(Shopware) or redirect to a callback (Shopify) at ``[server] public_url``.

WordPress sends wc-auth keys with ``wp_safe_remote_post``: the host must not resolve to a private, loopback,
link-local or shared (100.64/10) address, and the port must be 80, 443 or 8080; WooCommerce also requires the
callback to be HTTPS. The same limits are a sound expectation for the other platforms' servers.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

#: The ports ``wp_http_validate_url`` allows by default.
SAFE_PORTS = (80, 443, 8080)

OPTIONS = (
    "Put the connector behind a reverse proxy with a public HTTPS address (nginx, Caddy or Traefik with a "
    "Let's Encrypt certificate), or use a tunnel (Cloudflare Tunnel, ngrok) for a trial, then set "
    "[server] public_url to that address (see docs/operations.md, 'Public HTTPS address')."
)


def _private(host: str) -> bool:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return True  # a name no resolver knows cannot be reached by the platform either
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified:
            return True
        if ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10"):
            return True
    return False


def problems(public_url: str | None) -> list[str]:
    """Why the platforms could not reach ``public_url`` (empty when they can), each said plainly."""
    if not public_url:
        return ["[server] public_url is not set, so the platforms have no address to send the approval to."]
    parts = urlsplit(public_url)
    found = []
    if parts.scheme != "https":
        found.append(f"{public_url} is not HTTPS: WooCommerce and Shopify only send keys and codes over HTTPS.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if port not in SAFE_PORTS:
        found.append(f"port {port} is unusual: WordPress only posts to ports 80, 443 and 8080.")
    if _private(parts.hostname or ""):
        found.append(
            f"{parts.hostname} is a private or local address (or unknown to DNS): the shop's server cannot reach it."
        )
    return found
