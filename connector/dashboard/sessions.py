"""Dashboard sessions: the cookie's attributes and lifetime, starting a session at login, and checking on every
request that it still counts.

The session is Flask's signed cookie. What makes it revocable is the user's ``session_version`` (stored in the
database and copied into the session at login): logging out, a new password and deactivation bump it, and a
cookie carrying an older version is refused. A session also ends ``[dashboard] session_hours`` after its
login, however active it was.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface

from connector.dashboard import users

if TYPE_CHECKING:
    from connector.dashboard.settings import DashboardSettings
    from connector.runtime import Runtime


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set whenever this request came over HTTPS (directly or,
    per ``[server] trusted_proxies``, through a proxy that says so)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or bool(app.config["SESSION_COOKIE_SECURE"])


def configure(app: Flask, cfg: DashboardSettings) -> None:
    """Set the cookie's lifetime and flags. Flask defines these keys already, so they are assigned, not
    ``setdefault``-ed (which would keep Flask's 31 days and no ``SameSite``)."""
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=cfg.session_hours)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.session_interface = DashboardSessionInterface()


def start(result: users.LoginResult, email: str, lang: str = "") -> None:
    """Begin a fresh session for a logged-in user (nothing from before the login survives)."""
    session.clear()
    session.permanent = True
    session["user_id"] = result.user_id
    session["version"] = result.session_version
    session["login_at"] = int(time.time())
    session["email"] = email.strip().lower()
    if lang:
        session["lang"] = lang


def end() -> None:
    """Forget the session in this browser, keeping the chosen language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def current_user(rt: Runtime) -> users.SessionUser | None:
    """This browser's user, or ``None``; ends the session when it no longer counts (too old, or its user's version
    moved on)."""
    if "user_id" not in session:
        return None
    login_at = session.get("login_at")
    too_old = not isinstance(login_at, int) or time.time() - login_at > rt.config.dashboard.session_hours * 3600
    user = None if too_old else users.session_user(rt, session.get("user_id"), session.get("version"))
    if user is None:
        end()
    return user


def drop_if_stale(rt: Runtime) -> None:
    """End this browser's session when it no longer counts: too old, or its user's version moved on."""
    current_user(rt)
