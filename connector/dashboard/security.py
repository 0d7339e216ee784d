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
    """Send anonymous visitors to the login page (and remember where they wanted to go).

    Views of blueprints other than the dashboard's (a plugin's approval flow under the dashboard's address) get
    what the dashboard's own pages get: the user's workspace bound for every query (:mod:`connector.api.scope`)
    and their role checked (:mod:`connector.roles`; an agent may not connect shops)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not session.get("user_id") or not _bind_user():
            if request.headers.get("HX-Request"):
                return current_app.response_class(status=401, headers={"HX-Redirect": url_for("dashboard.login")})
            return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def _bind_user() -> bool:
    """Bind the logged-in user's workspace and check their role for this request, unless the dashboard's own
    ``before_request`` did; ``False`` when the session no longer names a user. Aborts with 403 for a role that may
    not use this endpoint."""
    from connector import roles
    from connector.api import scope
    from connector.dashboard import sessions
    from connector.web.context import runtime

    if scope.bound() is not None:
        return True
    user = sessions.current_user(runtime())
    if user is None:
        return False
    scope.bind(scope.Visibility(user.workspace_id, operator=user.operator, role=user.role))
    refusal = roles.dashboard_refusal(user.role, request.endpoint, operator=user.operator)
    if refusal is not None:
        # The reason, as the dashboard's own pages give it (the app's generic 403 would say only "Forbidden").
        abort(current_app.response_class(refusal, status=403, mimetype="text/plain"))
    return True
