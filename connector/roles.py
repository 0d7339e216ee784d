"""Roles of dashboard users and API tokens: ``owner`` may do everything in their workspace; ``agent`` only answers
customers (the inbox and the contacts page; in the API the inbox and the contacts' consent).

Both lists below are allow-lists: a route or operation added later is owner-only until it is added here, so a new
page never opens to agents by accident. ``tests/test_workspaces.py`` walks every route against them.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["owner", "agent"]
ROLES: tuple[Role, ...] = ("owner", "agent")

#: Dashboard endpoints an agent may use (with the pages everyone may: login, language, static files).
AGENT_ENDPOINTS = frozenset(
    {
        "dashboard.contacts",
        "dashboard.inbox",
        "dashboard.inbox_list",
        "dashboard.inbox_thread",
        "dashboard.inbox_messages",
        "dashboard.inbox_reply",
        "dashboard.inbox_take_over",
        "dashboard.inbox_hand_back",
        "dashboard.login",
        "dashboard.logout",
        "dashboard.first_user",
        "dashboard.set_language",
        "dashboard.static",
    }
)
#: Admin API operations ``(method, URL rule)`` an agent token may make.
AGENT_OPERATIONS = frozenset(
    {
        ("GET", "/api/v1/notifications/consent/<int:contact_id>"),
        ("POST", "/api/v1/notifications/consent/<int:contact_id>"),
        ("GET", "/api/v1/inbox/"),
        ("GET", "/api/v1/inbox/<int:contact_id>"),
        ("GET", "/api/v1/inbox/<int:contact_id>/templates"),
        ("POST", "/api/v1/inbox/<int:contact_id>/reply"),
        ("POST", "/api/v1/inbox/<int:contact_id>/take-over"),
        ("POST", "/api/v1/inbox/<int:contact_id>/hand-back"),
        ("POST", "/api/v1/inbox/<int:contact_id>/read"),
    }
)
#: Dashboard endpoints on what the whole deployment shares (plugin settings, scheduled jobs): only owners of the
#: operator's workspace. (The plugins page itself shows other owners their connections, without the settings.)
DEPLOYMENT_ENDPOINTS = frozenset({"dashboard.plugin_settings", "dashboard.jobs", "dashboard.run_job"})
#: Where each role lands after logging in.
HOME = {"owner": "dashboard.overview", "agent": "dashboard.contacts"}


def check_role(role: str) -> Role:
    """``role`` if it is one; raises :class:`ValueError` naming the roles otherwise."""
    for known in ROLES:
        if role == known:
            return known
    raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")


def dashboard_refusal(role: str, endpoint: str | None, *, operator: bool) -> str | None:
    """Why a user of ``role`` (in the operator's workspace or not) may not open ``endpoint``, or ``None``."""
    if endpoint is None:  # no such page: a 404 for everyone
        return None
    if role != "owner" and endpoint not in AGENT_ENDPOINTS:
        return "agents may only use the inbox and the contacts page"
    if endpoint in DEPLOYMENT_ENDPOINTS and not operator:
        return "this page changes what the whole deployment shares: only the operator's workspace may"
    return None


def api_refusal(role: str, method: str, rule: str) -> str | None:
    """Why a token of ``role`` may not make the operation ``(method, rule)``, or ``None``."""
    if role != "owner" and (method.upper(), rule) not in AGENT_OPERATIONS:
        return "agent tokens may only use the inbox and read and change contacts' consent"
    return None
