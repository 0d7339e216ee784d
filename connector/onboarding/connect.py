"""What every approval flow does at its end: store the connection it obtained, test it live, and take the owner
back to the setup wizard (the next step on success, the shop step saying what went wrong otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import redirect, render_template_string, session, url_for
from werkzeug.wrappers import Response

from connector.errors import ConnectionTestError, SettingsError
from connector.onboarding import lifecycle, reachability

if TYPE_CHECKING:
    from connector.db.models import ShopConnection
    from connector.runtime import Runtime


class FlowRefused(Exception):
    """An approval flow cannot go on; the message is shown to the owner as it is."""


def existing_shop(rt: Runtime, platform: str, shop_url: str) -> ShopConnection | None:
    """The connection to the same shop made before (say, before the app was uninstalled) in the owner's workspace,
    if any: another workspace's connection to the same shop is never touched."""
    from connector.api import scope

    seen = scope.bound()
    for row in rt.connections.shops(workspace_id=seen.workspace_id if seen is not None else None):
        if row.platform == platform and str((row.settings or {}).get("shop_url", "")).rstrip("/") == shop_url.rstrip(
            "/"
        ):
            return row
    return None


def save_tested_shop(rt: Runtime, *, name: str, platform: str, settings: Mapping[str, Any]) -> tuple[int, str]:
    """Store the shop connection an approval obtained (secrets encrypted) and test it live; returns its id and the
    shop's name. Connecting a shop again (after an uninstall, with new credentials) updates and re-enables the same
    connection, so its contacts, orders and webhook URL stay. Raises :class:`FlowRefused` when the settings are
    refused or the test fails; nothing new is kept then."""
    before = existing_shop(rt, platform, str(settings.get("shop_url", "")))
    try:
        if before is None:
            shop_id = rt.connections.create_shop(name=name, platform=platform, settings=settings).id
        else:
            shop_id = before.id
            rt.connections.update_settings("shop", shop_id, settings, name=name or None)
    except SettingsError as exc:
        raise FlowRefused("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
    try:
        info = rt.connections.test("shop", shop_id)
    except ConnectionTestError as exc:
        if before is None:
            rt.connections.delete("shop", shop_id)
        else:
            rt.connections.update_settings("shop", shop_id, rt.connections.settings_of(before))
        raise FlowRefused(f"connected, but the test call failed: {exc}") from exc
    lifecycle.set_state(rt, shop_id, enabled=True, note=None)
    return shop_id, info.name


def create_tested_shop(rt: Runtime, *, name: str, platform: str, settings: Mapping[str, Any]) -> int:
    """:func:`save_tested_shop`, then continue the wizard with that shop (in the owner's browser session)."""
    shop_id, shop_name = save_tested_shop(rt, name=name, platform=platform, settings=settings)
    session["wizard_shop"] = shop_id
    session["wizard_done"] = f"Connected to {shop_name}."
    return shop_id


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
