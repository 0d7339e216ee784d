"""A real cluster: ``connector web``, ``connector worker`` and ``connector scheduler`` as separate processes
on a fresh PostgreSQL database, RabbitMQ as the broker and Redis for the global rate limits; the shop and
Graph sandboxes run in the test process. The launcher itself is :mod:`bench._cluster` (the scale benchmark
uses it too).

Without RabbitMQ, Redis or PostgreSQL these tests are skipped locally, and fail when ``CI=true``.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench._cluster import BROKER_URL, CONNECTOR, REDIS_URL
from connector.runtime import Runtime
from tests.conftest import IN_CI


def _reachable(url: str, default_port: int) -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2).close()
    except OSError as exc:
        return f"{url}: {exc}"
    return None


@pytest.fixture(scope="module")
def services(postgres_admin: str) -> str:
    """RabbitMQ and Redis must be up (skip locally without them, fail in CI)."""
    problems = [p for p in (_reachable(BROKER_URL, 5672), _reachable(REDIS_URL, 6379)) if p]
    if problems:
        if IN_CI:
            pytest.fail(f"RabbitMQ and Redis are required in CI: {'; '.join(problems)}")
        pytest.skip(f"no broker/Redis here: {'; '.join(problems)}")
    return postgres_admin


@pytest.fixture(scope="module")
def new_database(services: str) -> Iterator[Callable[[], str]]:
    """Creates fresh PostgreSQL databases for the module's clusters; drops them after the module."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(services, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def create() -> str:
        name = f"connector_cluster_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return make_url(services).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="module")
def cluster_db(new_database: Callable[[], str]) -> str:
    """A fresh PostgreSQL database for the module's main cluster."""
    return new_database()


def connect_sandboxes(rt: Runtime, shop_sandbox: Any, graph: Any, name: str = "Shop") -> tuple[int, int]:
    """A shop connection and a WhatsApp connection to the in-process sandboxes; returns their ids."""
    shop_cls = rt.plugins.shop_adapters["woocommerce"]
    channel_cls = rt.plugins.channel_adapters["whatsapp"]
    shop_fields = {f.name for f in shop_cls.config_fields}
    channel_fields = {f.name for f in channel_cls.config_fields}
    shop = rt.connections.create_shop(
        name=name,
        platform="woocommerce",
        settings={k: v for k, v in shop_sandbox.connection_settings().items() if k in shop_fields},
    )
    channel = rt.connections.create_channel(
        shop_connection_id=shop.id,
        name=f"{name} number",
        channel="whatsapp",
        settings={k: v for k, v in graph.connection_settings().items() if k in channel_fields},
    )
    return shop.id, channel.id


def fan_out(rt: Runtime, channel_id: int, recipients: list[str], count: int, *, tag: str, batch: int = 500) -> None:
    """Queue ``count`` text messages through the outbox (``queue_message``), round-robin over ``recipients``."""
    from connector import model
    from connector.chat.messages import queue_message

    for start in range(0, count, batch):
        with rt.db.session() as session:
            for n in range(start, min(count, start + batch)):
                queue_message(
                    rt,
                    channel_connection_id=channel_id,
                    recipient=recipients[n % len(recipients)],
                    message=model.TextMessage(body=f"{tag} #{n}"),
                    kind="test",
                    idempotency_key=f"{tag}:{n}",
                    session=session,
                )


def sandbox_messages(graph: Any, recipients: list[str], tag: str) -> list[dict[str, Any]]:
    """Every accepted text message to ``recipients`` whose body starts with ``tag``, as the Graph sandbox
    recorded them (duplicates kept), with the sandbox's ``_sandbox.timestamp``."""
    found = []
    for wa_id in recipients:
        for message in graph.messages_to(wa_id):
            if message.get("text", {}).get("body", "").startswith(f"{tag} #"):
                found.append(message)
    return found


def sandbox_bodies(graph: Any, recipients: list[str], tag: str) -> list[str]:
    """The bodies of :func:`sandbox_messages`."""
    return [m["text"]["body"] for m in sandbox_messages(graph, recipients, tag)]


def open_windows(graph: Any, recipients: list[str]) -> None:
    """Each recipient writes first, so free-form text may be sent to them (the 24-hour window)."""
    for wa_id in recipients:
        graph.customer_text(None, wa_id, "hi")


Waiter = Callable[..., Any]


class RemoteGraph:
    """The Graph sandbox in its own process (``connector sandbox graph --json``), driven by its control API.

    The fan-out sends tens of thousands of requests to it: in its own process it does not share this
    process's interpreter with the test, which is busy queueing messages.
    """

    def __init__(self, **options: Any):
        import json

        cmd = [CONNECTOR, "sandbox", "graph", "--json"]
        for key, val in options.items():
            cmd += ["--option", f"{key}={json.dumps(val)}"]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        info = json.loads(self.process.stdout.readline())
        self.url: str = info["url"]
        self.settings: dict[str, Any] = info["settings"]

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        response = requests.request(method, f"{self.url}/_sandbox/{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def connection_settings(self) -> dict[str, Any]:
        return dict(self.settings)

    def customer_text(self, phone_number_id: str | None, wa_id: str, text: str) -> None:
        self.control("POST", "whatsapp/messages", json={"wa_id": wa_id, "type": "text", "text": text})

    def set_options(self, **options: Any) -> None:
        self.control("POST", "options", json=options)

    def subscribe_webhooks(self, url: str, *, object: str, verify_token: str) -> None:
        self.control("POST", "webhooks", json={"url": url, "object": object, "verify_token": verify_token})

    def catalog_items(self, catalog_id: str) -> list[dict[str, Any]]:
        return self.control("GET", f"catalogs/{catalog_id}/items")["items"]

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def messages_to(self, recipient: str) -> list[dict[str, Any]]:
        return self.control("GET", "messages", params={"to": recipient})["messages"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
