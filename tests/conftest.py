"""Shared fixtures: a real runtime on a real database, the real web app, and sandboxes over real HTTP.

Platform plugins keep their own fixtures in ``tests/plugins/<name>/conftest.py``.

PostgreSQL: tests marked ``postgres`` (and the ``database_url`` fixture's ``postgres`` parameter) use
``CONNECTOR_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
as an admin connection and create a fresh database per test. Without a server they are skipped
locally, but fail when ``CI=true``: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import connector.http
from bench._progress import STALL_SECONDS
from connector.config import Config, generate_secrets, load_config
from connector.db.migrate import upgrade
from connector.plugins import Plugins
from connector.runtime import Runtime

POSTGRES_ADMIN_URL = os.environ.get(
    "CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep retry backoff real but short: the behaviour is the same, the suite just doesn't wait seconds."""
    monkeypatch.setattr(connector.http, "BACKOFF_SCALE", 0.01)


# --------------------------------------------------------------------------- databases


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    problem = _postgres_available()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {POSTGRES_ADMIN_URL}: {problem}")
        pytest.skip(f"no PostgreSQL server: {problem}")
    yield POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"connector_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'connector.db'}"
    return request.getfixturevalue("postgres_url")


# --------------------------------------------------------------------------- runtime and app


def make_config(database_url: str, **sections: Any) -> Config:
    secrets = generate_secrets()
    overrides: dict[str, Any] = {
        "database": {"url": database_url},
        "security": {"secret_key": secrets["secret_key"], "encryption_keys": [secrets["encryption_key"]]},
        "scheduler": {"enabled": False},
        "worker": {"threads": 2, "poll_interval": 0.05},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(overrides=overrides)


def add_channel(session: Any, name: str = "Number") -> Any:
    """A WooCommerce shop row with one WhatsApp channel row (no settings), for tests that seed rows directly."""
    from connector.db.models import ChannelConnection, ShopConnection

    shop = ShopConnection(name="Shop", platform="woocommerce", settings={})
    session.add(shop)
    session.flush()
    channel = ChannelConnection(shop_connection_id=shop.id, name=name, channel="whatsapp", settings={})
    session.add(channel)
    session.flush()
    return channel


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """The installed plugins, loaded through entry points like in production (shared: loading is slow)."""
    return Plugins()


@pytest.fixture
def runtime(tmp_path: Path, plugins: Plugins) -> Iterator[Runtime]:
    """A runtime on a migrated SQLite database in a temporary folder."""
    rt = Runtime(make_config(f"sqlite:///{tmp_path / 'connector.db'}"), plugins=plugins)
    upgrade(rt.db)
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> Any:
    from connector.web.app import create_app

    application = create_app(runtime=runtime)
    application.testing = True
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def api_headers(runtime: Runtime) -> dict[str, str]:
    from connector.api.auth import create_token

    return {"Authorization": f"Bearer {create_token(runtime, 'tests')}"}


# --------------------------------------------------------------------------- a live stack over real HTTP


#: The bound of a poll that waits for a condition (seconds). Generous: a met condition ends the wait at once, so the
#: bound only decides how long a failing test takes, and a machine at load average 30 must not trip it.
WAIT_BOUND = STALL_SECONDS


def wait_for(predicate: Any, timeout: float = WAIT_BOUND, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


class Stack:
    """A connector (web app + embedded worker) on a real port, a shop sandbox and the Graph sandbox,
    connected to each other with webhooks subscribed, like ``connector demo``."""

    def __init__(self, runtime: Runtime, server: Any, shop_sandbox: Any, graph: Any, shop_id: int, channel_id: int):
        self.runtime = runtime
        self.server = server
        self.shop = shop_sandbox
        self.graph = graph
        self.shop_id = shop_id
        self.channel_id = channel_id

    @property
    def url(self) -> str:
        return self.server.url

    def shop_webhook_url(self) -> str:
        return self.runtime.connections.webhook_url(self.shop_adapter_name, self.shop_id)

    @property
    def shop_adapter_name(self) -> str:
        return self.runtime.connections.get_shop(self.shop_id).platform

    def channel_webhook_url(self) -> str:
        return self.runtime.connections.webhook_url("whatsapp", self.channel_id)

    def catalog(self) -> dict[str, dict[str, Any]]:
        items = self.graph.catalog_items(self.graph.connection_settings()["catalog_id"])
        return {item.get("retailer_id") or item.get("id"): item for item in items}

    def full_sync(self) -> Any:
        """A full sync now; if a sync a shop webhook started is still running, the full sync waits for it."""
        from connector.sync.catalog import SyncBusy, run_sync

        deadline = time.monotonic() + 30
        while True:
            try:
                return run_sync(self.runtime, self.shop_id, mode="full", trigger="manual")
            except SyncBusy:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def start_stack(
    runtime: Runtime,
    shop: str = "woocommerce",
    shop_options: dict[str, Any] | None = None,
    *,
    shop_webhooks: bool = True,
) -> Stack:
    from connector.server import EmbeddedServer

    sandboxes = runtime.plugins.sandboxes()
    shop_sandbox = sandboxes[shop](options=shop_options or {})
    graph = sandboxes["graph"]()
    shop_sandbox.start()
    graph.start()
    server = EmbeddedServer(runtime, port=0, scheduler=False)
    runtime.config.server.public_url = server.url
    server.start()
    shop_cls = runtime.plugins.shop_adapters[shop]
    channel_cls = runtime.plugins.channel_adapters["whatsapp"]
    shop_settings = {
        k: v for k, v in shop_sandbox.connection_settings().items() if k in {f.name for f in shop_cls.config_fields}
    }
    graph_settings = graph.connection_settings()
    channel_settings = {k: v for k, v in graph_settings.items() if k in {f.name for f in channel_cls.config_fields}}
    shop_row = runtime.connections.create_shop(name="Test shop", platform=shop, settings=shop_settings)
    channel_row = runtime.connections.create_channel(
        shop_connection_id=shop_row.id, name="Test number", channel="whatsapp", settings=channel_settings
    )
    stack = Stack(runtime, server, shop_sandbox, graph, shop_row.id, channel_row.id)
    if shop_webhooks:
        try:
            runtime.connections.shop_adapter(shop_row.id).register_webhooks(stack.shop_webhook_url())
        except NotImplementedError:
            shop_sandbox.subscribe_webhooks(stack.shop_webhook_url())
    graph.subscribe_webhooks(
        stack.channel_webhook_url(), object="whatsapp_business_account", verify_token=graph_settings["verify_token"]
    )
    return stack


def stop_stack(stack: Stack) -> None:
    stack.server.stop()
    stack.shop.stop()
    stack.graph.stop()


@pytest.fixture
def stack(runtime: Runtime) -> Iterator[Stack]:
    """The whole product over real HTTP: WooCommerce sandbox -> connector -> Graph sandbox."""
    s = start_stack(runtime)
    yield s
    stop_stack(s)


class HookRecorder:
    """A plugin that records every event hook call (registered for one test, like any plugin)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def named(self, hook: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == hook]


def _recording(name: str) -> Any:
    from connector import hookimpl

    def impl(self: HookRecorder, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))

    import inspect

    from connector import hookspecs

    params = list(inspect.signature(getattr(hookspecs, name)).parameters)
    # pluggy reads argument names from the signature, so build a function with the spec's names.
    namespace: dict[str, Any] = {"impl": impl}
    exec(f"def {name}(self, {', '.join(params)}):\n    impl(self, {', '.join(f'{p}={p}' for p in params)})", namespace)
    return hookimpl(namespace[name])


for _hook in (
    "connector_verify_webhook",
    "connector_parse_webhook",
    "connector_catalog_changed",
    "connector_stock_changed",
    "connector_order_status_changed",
    "connector_order_deleted",
    "connector_inbound_message",
    "connector_notification_sent",
):
    setattr(HookRecorder, _hook, _recording(_hook))


@pytest.fixture
def hooks(plugins: Plugins) -> Iterator[HookRecorder]:
    recorder = HookRecorder()
    plugins.register(recorder, name="test-hook-recorder")
    try:
        yield recorder
    finally:
        plugins.unregister(recorder)


@pytest.fixture
def quiet_stack(runtime: Runtime) -> Iterator[Stack]:
    """Like ``stack`` but the shop sends no webhooks: only the syncs a test runs touch the catalog."""
    s = start_stack(runtime, shop_webhooks=False)
    yield s
    stop_stack(s)
