"""Browser protections sent with every response of the web app.

The Content-Security-Policy allows scripts, styles and requests from this origin only: no inline
``<script>``, no ``on*=`` handlers, no ``eval``, so markup that slipped through escaping still cannot run.
Images may come from any HTTPS host (product photos live on the shops' CDNs). The page may not be framed
(``frame-ancestors`` plus ``X-Frame-Options`` for older browsers), responses are never content-sniffed, and
other sites learn nothing of our URLs from the ``Referer``.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

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


def install(app: Flask) -> None:
    """Send :data:`SECURITY_HEADERS` with every response of ``app``, error pages included."""
    app.after_request(add_security_headers)
