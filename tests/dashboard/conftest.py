"""Fixtures for the dashboard: a connector in demo mode on a real port, a logged-in browser (Playwright driving
Debian's Chromium), and a fully connected stack with real data for the page tests.

Chromium comes from the system (``apt-get install chromium``), never from ``playwright install``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.config import generate_secrets, load_config
from connector.dashboard.users import create_user
from connector.db.migrate import upgrade
from connector.plugins import Plugins
from connector.runtime import Runtime
from connector.server import EmbeddedServer
from tests.conftest import wait_for

CHROMIUM = os.environ.get("CONNECTOR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EMAIL = "owner@example.com"
PASSWORD = "correct horse battery"


def dashboard_config(database_url: str, server: dict[str, Any] | None = None, **dashboard: Any) -> Any:
    secrets = generate_secrets()
    return load_config(
        overrides={
            "database": {"url": database_url},
            "security": {"secret_key": secrets["secret_key"], "encryption_keys": [secrets["encryption_key"]]},
            "scheduler": {"enabled": False},
            "worker": {"threads": 2, "poll_interval": 0.05},
            "server": {"host": "127.0.0.1", "port": 0, "demo": True, **(server or {})},
            "dashboard": dashboard,
        }
    )


class Live:
    """A connector (web app + embedded worker) in demo mode on a real port, with one dashboard user."""

    def __init__(self, runtime: Runtime, server: EmbeddedServer):
        self.runtime = runtime
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    def dashboard(self, path: str = "") -> str:
        return f"{self.url}/dashboard{path}"

    def stop(self) -> None:
        self.server.stop()
        holder = self.server.app.extensions.get("dashboard_sandboxes")
        if holder is not None:
            holder.stop_all()
        self.runtime.close()


def start_live(
    tmp_path: Path,
    plugins: Plugins,
    *,
    user: bool = True,
    server: dict[str, Any] | None = None,
    database_url: str | None = None,
    **dashboard: Any,
) -> Live:
    """Serve a connector on a free port (on SQLite in ``tmp_path`` unless ``database_url`` says otherwise);
    ``user``: with the dashboard user EMAIL / PASSWORD; ``server`` and ``dashboard``: overrides of those config
    sections."""
    database_url = database_url or f"sqlite:///{tmp_path / 'connector.db'}"
    runtime = Runtime(dashboard_config(database_url, server, **dashboard), plugins=plugins)
    upgrade(runtime.db)
    server = EmbeddedServer(runtime, port=0, scheduler=False)
    runtime.config.server.public_url = server.url
    server.start()
    if user:
        create_user(runtime, EMAIL, PASSWORD)
    return Live(runtime, server)


@pytest.fixture
def live(tmp_path: Path, plugins: Plugins) -> Iterator[Live]:
    """The connector in demo mode on a real port, with a dashboard user and no connections yet."""
    server = start_live(tmp_path, plugins)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian, driven by Playwright."""
    from playwright.sync_api import expect, sync_playwright

    # Playwright's ``expect`` retries until the page shows what is expected; the same generous bound as ``page``.
    expect.set_options(timeout=60_000)
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (own cookies), English UI, phone-sized when ``mobile`` is asked for."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    # An upper bound on waiting for an element or a navigation (each wait ends as soon as the page is there):
    # generous, so a loaded machine slows the tests down instead of failing them.
    tab.set_default_timeout(60_000)
    yield tab
    context.close()


def follow(page: Any, locator: Any) -> None:
    """Click a link or a form's button and wait until the page it leads to has loaded.

    A click only starts the navigation: what is read right after it may still be the page being left (CI caught
    a catalog read as empty and a heading read before the next page was there)."""
    with page.expect_navigation():
        locator.click()


def log_in(page: Any, live: Live, password: str = PASSWORD) -> None:
    """Log in through the form and wait for the page the form answers with."""
    page.goto(live.dashboard("/login"))
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    follow(page, page.get_by_role("button", name="Log in"))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


class Connected:
    """``live`` plus a WooCommerce sandbox and the Graph sandbox, connected, webhooks subscribed, synced."""

    def __init__(self, live: Live, shop: Any, graph: Any, shop_id: int, channel_id: int):
        self.live = live
        self.shop = shop
        self.graph = graph
        self.shop_id = shop_id
        self.channel_id = channel_id


@contextmanager
def connected_stack(
    live: Live, *, products: Any = None, shop_name: str = "Demo shop", channel_name: str = "Demo number"
) -> Iterator[Connected]:
    """Connect ``live`` to a WooCommerce sandbox (seeded with ``products``, default the demo catalog) and the Graph
    sandbox through the same services the wizard uses, subscribe the webhooks and run a full sync."""
    from connector.dashboard.sandboxes import settings_for
    from connector.sync.catalog import run_sync

    rt = live.runtime
    sandboxes = rt.plugins.sandboxes()
    shop = sandboxes["woocommerce"](products=products)
    graph = sandboxes["graph"]()
    shop.start()
    graph.start()
    try:
        shop_row = rt.connections.create_shop(
            name=shop_name,
            platform="woocommerce",
            settings=settings_for(rt.plugins.shop_adapters["woocommerce"], shop.connection_settings()),
        )
        channel_row = rt.connections.create_channel(
            shop_connection_id=shop_row.id,
            name=channel_name,
            channel="whatsapp",
            settings=settings_for(rt.plugins.channel_adapters["whatsapp"], graph.connection_settings()),
        )
        rt.connections.shop_adapter(shop_row.id).register_webhooks(
            rt.connections.webhook_url("woocommerce", shop_row.id)
        )
        graph.subscribe_webhooks(
            rt.connections.webhook_url("whatsapp", channel_row.id),
            object="whatsapp_business_account",
            verify_token=graph.connection_settings()["verify_token"],
        )
        run_sync(rt, shop_row.id, mode="full", trigger="manual")
        yield Connected(live, shop, graph, shop_row.id, channel_row.id)
    finally:
        shop.stop()
        graph.stop()


@pytest.fixture
def connected(live: Live) -> Iterator[Connected]:
    """A connected, fully synced demo stack (created through the same services the wizard uses)."""
    with connected_stack(live) as stack:
        yield stack


def get_json(url: str) -> Any:
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.json()


#: Poll a condition with the generous bound (:func:`tests.conftest.wait_for`).
wait_until = wait_for


def run_cli(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """The ``connector`` command as a user runs it (plugins' commands included)."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args], capture_output=True, text=True, timeout=120, check=False
    )


def config_file(tmp_path: Path, runtime: Runtime) -> Path:
    """A config file a ``connector`` command can use to reach ``runtime``'s database."""
    cfg = runtime.config
    path = tmp_path / "connector.toml"
    path.write_text(
        f'[database]\nurl = "{cfg.database.url}"\n[security]\nsecret_key = "{cfg.security.secret_key}"\n'
        f'encryption_keys = ["{cfg.security.encryption_keys[0]}"]\n'
    )
    return path
