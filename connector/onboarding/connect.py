"""What every approval flow does at its end: store the connection it obtained, test it live, and take the owner
back to the setup wizard (the next step on success, the shop step saying what went wrong otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import redirect, render_template_string, session, url_for
from werkzeug.wrappers import Response

from connector.errors import ConnectionTestError, SettingsError
from connector.onboarding import reachability

if TYPE_CHECKING:
    from connector.db.models import ShopConnection
    from connector.runtime import Runtime


class FlowRefused(Exception):
    """An approval flow cannot go on; the message is shown to the owner as it is."""


def create_tested_shop(rt: Runtime, *, name: str, platform: str, settings: Mapping[str, Any]) -> ShopConnection:
    """Store a shop connection (secrets encrypted) and test it live; remove it again and raise :class:`FlowRefused`
    when the test fails."""
    try:
        row = rt.connections.create_shop(name=name, platform=platform, settings=settings)
    except SettingsError as exc:
        raise FlowRefused("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
    try:
        info = rt.connections.test("shop", row.id)
    except ConnectionTestError as exc:
        rt.connections.delete("shop", row.id)
        raise FlowRefused(f"connected, but the test call failed: {exc}") from exc
    session["wizard_shop"] = row.id
    session["wizard_done"] = f"Connected to {info.name}."
    return row


def unreachable(rt: Runtime) -> list[str]:
    """Why the platforms cannot reach this deployment (empty when they can, or when the check is switched off)."""
    if rt.config.onboarding.allow_private_callbacks:
        return []
    return reachability.problems(rt.config.public_url)


def back_to_wizard(error: str | None = None) -> Response:
    """Redirect to the wizard: the channel step after a success, the shop step showing ``error`` otherwise."""
    if error is None:
        return redirect(url_for("dashboard.wizard_channel"), 303)
    session["wizard_connect_error"] = error
    return redirect(url_for("dashboard.wizard_shop"), 303)


def public_url(rt: Runtime, path: str) -> str:
    """``path`` on the address the platforms reach us at."""
    return f"{rt.config.public_url}/{path.lstrip('/')}"


_GO_TO = """<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={{ url }}"><title>{{ platform }}</title></head>
<body><p>Taking you to {{ platform }} to approve the connection…</p>
<p><a id="continue" href="{{ url }}">Continue to {{ platform }}</a></p></body></html>"""


def go_to(platform: str, url: str) -> str:
    """A page sending the owner on to the platform's approval screen. Not a redirect: the dashboard's
    Content-Security-Policy (``form-action 'self'``) stops a form from being redirected to another site, while a
    page may navigate anywhere."""
    return render_template_string(_GO_TO, url=url, platform=platform)
