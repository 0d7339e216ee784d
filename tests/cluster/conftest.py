"""A real cluster: ``connector web``, ``connector worker`` and ``connector scheduler`` as separate processes
on a fresh PostgreSQL database, RabbitMQ as the broker and Redis for the global rate limits; the shop and
Graph sandboxes run in the test process.

Without RabbitMQ, Redis or PostgreSQL these tests are skipped locally, and fail when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.config import generate_secrets, load_config
from connector.db.migrate import upgrade
from connector.runtime import Runtime
from tests.conftest import IN_CI, wait_for

BROKER_URL = os.environ.get("CONNECTOR_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("CONNECTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CONNECTOR = str(Path(sys.executable).with_name("connector"))


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
def cluster_db(services: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the module's cluster."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"connector_cluster_{uuid.uuid4().hex[:12]}"
    admin = create_engine(services, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(services).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(
    path: Path, database_url: str, *, public_url: str = "", notify: dict[str, Any] | None = None, **cluster: Any
) -> Path:
    """A TOML config for the cluster processes: PostgreSQL, the celery backend, short leases and ticks."""
    secrets = generate_secrets()
    settings = {
        "broker_url": BROKER_URL,
        "redis_url": REDIS_URL,
        "queue": f"connector.test.{uuid.uuid4().hex[:8]}",
        "leader_lock_id": 700_000_000 + uuid.uuid4().int % 100_000_000,
        "tick_seconds": 2,
        "leader_poll_seconds": 1.0,
        "relay_interval": 0.05,
        "requeue_after_seconds": 15,
        "worker_concurrency": 8,
        **cluster,
    }

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v) if isinstance(v, int | float) else f'"{v}"'

    lines = [
        "[database]",
        f'url = "{database_url}"',
        "[security]",
        f'secret_key = "{secrets["secret_key"]}"',
        f'encryption_keys = ["{secrets["encryption_key"]}"]',
        "[worker]",
        'backend = "celery"',
        "lease_seconds = 10",
        "[cluster]",
        *(f"{k} = {value(v)}" for k, v in settings.items()),
        "[notify]",
        *(f"{k} = {value(v)}" for k, v in (notify or {}).items()),
    ]
    if public_url:
        lines += ["[server]", f'public_url = "{public_url}"']
    path.write_text("\n".join(lines) + "\n")
    return path


class Cluster:
    """The processes of one deployment, their logs, and a runtime of the test process on the same database."""

    def __init__(self, config: Path, logs: Path):
        self.config = config
        self.logs = logs
        self.runtime = Runtime(load_config(config))
        from connector.cluster.processes import activate

        activate(self.runtime)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.web_url = ""

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start ``connector --config CONFIG ARGS...`` as process ``name`` (output in ``logs/name.log``)."""
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [CONNECTOR, "--config", str(self.config), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(10)

    def leader(self) -> str | None:
        """The scheduler process that logged it is the leader last (and is still alive)."""
        for name, proc in self.procs.items():
            if name.startswith("scheduler") and proc.poll() is None and "is the leader" in self.log(name):
                return name
        return None

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        self._delete_queue()
        self.runtime.close()

    def _delete_queue(self) -> None:
        from kombu import Connection

        settings = self.runtime.config.cluster
        with Connection(settings.broker_url) as conn, contextlib.suppress(Exception):  # never declared: fine
            conn.default_channel.queue_delete(settings.queue)


def start_cluster(
    tmp: Path,
    database_url: str,
    *,
    web: bool,
    workers: int,
    schedulers: int,
    notify: dict[str, Any] | None = None,
    **cluster: Any,
) -> Cluster:
    """Migrate, then start the processes and wait until the web answers and a leader is elected."""
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    config = write_config(tmp / "connector.toml", database_url, public_url=web_url, notify=notify, **cluster)
    c = Cluster(config, tmp)
    upgrade(c.runtime.db)
    if web:
        c.start("web", "web", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8")
        c.web_url = web_url
    for i in range(workers):
        c.start(f"worker{i + 1}", "worker", "--loglevel", "WARNING")
    for i in range(schedulers):
        c.start(f"scheduler{i + 1}", "scheduler")
    import requests

    def web_up() -> bool:
        try:
            return requests.get(f"{c.web_url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        if web:
            wait_for(web_up, timeout=30, interval=0.2)
        if schedulers:
            wait_for(c.leader, timeout=30, interval=0.2)
    except AssertionError:
        logs = "\n".join(f"--- {n}\n{c.log(n)[-2000:]}" for n in c.procs)
        c.stop()
        raise AssertionError(f"cluster did not come up:\n{logs}") from None
    return c


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
