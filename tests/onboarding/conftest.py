"""Fixtures for the approval flows: the real Flask app on SQLite with a logged-in dashboard client, and the
platforms' sandboxes on real ports."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from connector.dashboard.users import create_user
from connector.runtime import Runtime

EMAIL = "owner@example.com"
PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def owner(runtime: Runtime, client: Any) -> Any:
    """The test client, logged in to the dashboard. Flows may start although 127.0.0.1 is private."""
    runtime.config.onboarding.allow_private_callbacks = True
    create_user(runtime, EMAIL, PASSWORD)
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post("/dashboard/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 302
    client.csrf = csrf_of(client.get("/dashboard/setup/shop").text)
    return client


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def wizard_error(client: Any) -> str:
    """The error the shop step shows after a refused flow."""
    page = client.get("/dashboard/setup/shop").text
    match = re.search(r'id="connect-error">([^<]*)<', page)
    return html.unescape(match.group(1)) if match else ""


def approval_url(response: Any) -> str:
    """Where the start page sends the owner (a page, not a redirect: the dashboard's CSP allows forms to post to
    this site only)."""
    assert response.status_code == 200, response.text
    match = re.search(r'id="continue" href="([^"]+)"', response.text)
    assert match, "the start page links to no approval screen"
    return html.unescape(match.group(1))
