"""Request security for the dashboard: the session-bound CSRF token and the login requirement."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, redirect, request, session, url_for

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    """This session's CSRF token (created on first use). Every dashboard form and htmx request sends it back."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """Refuse a state-changing request whose token is missing or not this session's (400 with the reason)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(str(expected), str(sent)):
        abort(400, description="csrf")


def client_address() -> str:
    """The client's address for the login throttle: the direct peer, or what a trusted proxy forwarded
    (``[server] trusted_proxies``, see :mod:`connector.web.proxy`)."""
    return request.remote_addr or "unknown"


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anonymous visitors to the login page (and remember where they wanted to go)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not session.get("user_id"):
            if request.headers.get("HX-Request"):
                return current_app.response_class(status=401, headers={"HX-Redirect": url_for("dashboard.login")})
            return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped
