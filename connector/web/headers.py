"""Browser protections sent with every response of the web app.

The Content-Security-Policy allows scripts, styles and requests from this origin only: no inline
``<script>``, no ``on*=`` handlers, no ``eval``, so markup that slipped through escaping still cannot run.
Images may come from any HTTPS host (product photos live on the shops' CDNs). The page may not be framed
(``frame-ancestors`` plus ``X-Frame-Options`` for older browsers), responses are never content-sniffed, and
other sites learn nothing of our URLs from the ``Referer``.

In demo mode (``[server] demo``) the shop sandboxes serve the product photos from ``http://127.0.0.1:<port>``;
``img-src`` then also names exactly the origins of the sandboxes running in this process (no wildcard, and never
outside demo mode). Allowing those origins is simpler and safer than proxying images through the dashboard, which
would make the app fetch URLs for its visitors.
"""

from __future__ import annotations

from flask import Flask, Response

from connector.sandbox.base import running_origins

IMG_SRC = "img-src 'self' data: https:"


def _policy(img_src: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            img_src,
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


CONTENT_SECURITY_POLICY = _policy(IMG_SRC)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    """Set the headers a view did not set itself (a view may send a stricter or different policy)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def demo_policy() -> str:
    """The policy in demo mode: :data:`CONTENT_SECURITY_POLICY` plus the running sandboxes' origins for images."""
    origins = " ".join(sorted(running_origins()))
    return _policy(f"{IMG_SRC} {origins}" if origins else IMG_SRC)


def add_demo_headers(response: Response) -> Response:
    """:func:`add_security_headers`, with images from the running sandboxes allowed (demo mode only)."""
    response.headers.setdefault("Content-Security-Policy", demo_policy())
    return add_security_headers(response)


def install(app: Flask, *, demo: bool = False) -> None:
    """Send :data:`SECURITY_HEADERS` with every response of ``app``, error pages included (in ``demo`` mode with
    :func:`demo_policy`)."""
    app.after_request(add_demo_headers if demo else add_security_headers)
