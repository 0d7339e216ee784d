"""A back-in-stock fan-out in real processes, shared by ``bench/fanout.py`` and the kill test.

* this process: the database, the connector's web app (it receives the Graph sandbox's status webhooks and
  stores them, as it would in production) and the counting;
* a worker process (``python -m bench._fanout_worker CONFIG``): the embedded worker that runs the wave and the
  sends; it can be SIGKILLed mid fan-out and started again;
* the Graph sandbox: in another process (``connector sandbox graph``) or in this one.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, insert, select

from connector.config import generate_secrets, load_config
from connector.db.migrate import upgrade
from connector.db.models import Contact, OutboundMessage, ShopConnection, ShopVariant, Task
from connector.db.models_notify import BackInStockSubscription, Consent
from connector.runtime import Runtime

VARIANT = "bench-variant-1"
DONE = ("sent", "delivered", "read", "failed", "skipped")


def phone(i: int) -> str:
    """The i-th subscriber's WhatsApp id (German mobile numbers)."""
    return f"4917{i:09d}"


@dataclass
class Fanout:
    """One prepared fan-out: the config file, the runtime of this process and the ids involved."""

    folder: Path
    config_path: Path
    runtime: Runtime
    graph_url: str
    subscribers: int
    channel_id: int = 0
    verify_token: str = ""
    shop_id: int = 0
    #: Worker processes started together (each an embedded worker on the same database).
    processes: int = 1
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ worker processes

    @property
    def worker(self) -> subprocess.Popen[bytes] | None:
        """The first worker process, if running."""
        return self.workers[0] if self.workers else None

    def start_worker(self) -> None:
        """Start the worker processes."""
        env = dict(os.environ, CONNECTOR_CONFIG=str(self.config_path))
        for _ in range(self.processes):
            log = open(self.folder / "worker.log", "ab")  # noqa: SIM115 - the child keeps it
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench._fanout_worker", str(self.config_path)],
                    env=env,
                    stdout=log,
                    stderr=log,
                    cwd=str(Path(__file__).resolve().parent.parent),
                )
            )

    def kill_worker(self) -> None:
        """SIGKILL every worker process: no cleanup, no finally blocks, like a power cut."""
        assert self.workers
        for worker in self.workers:
            os.kill(worker.pid, signal.SIGKILL)
        for worker in self.workers:
            worker.wait()
        self.workers.clear()

    def stop_worker(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.workers.clear()

    # ------------------------------------------------------------------ state

    def accepted(self) -> int:
        """Messages the Graph sandbox accepted so far (its own counter)."""
        stats = requests.get(f"{self.graph_url}/_sandbox/stats", timeout=30).json()
        return int(stats["whatsapp"]["accepted"])

    def outbox_counts(self) -> dict[str, int]:
        with self.runtime.db.session() as session:
            return dict(
                session.execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)).all()
            )

    def finished(self) -> bool:
        """Every subscriber has an outbox row and every row reached a final state."""
        counts = self.outbox_counts()
        return sum(counts.values()) >= self.subscribers and sum(counts.get(s, 0) for s in DONE) >= self.subscribers

    def held_messages(self) -> set[int]:
        """Outbox rows in the hands of running send tasks (right after a kill: the dead worker's)."""
        return held_messages(self.runtime)

    def settled(self, ids: set[int]) -> bool:
        """Every one of the outbox rows ``ids`` reached a final state."""
        return settled(self.runtime, ids)

    def wait(self, predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()

    def count_deliveries(self, threads: int = 16) -> tuple[int, int]:
        """``(duplicates, lost)`` from the sandbox's own record of what each subscriber received."""
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=threads, pool_maxsize=threads)
        session.mount("http://", adapter)

        def received(i: int) -> int:
            answer = session.get(f"{self.graph_url}/_sandbox/messages", params={"to": phone(i)}, timeout=60)
            return len(answer.json()["messages"])

        with ThreadPoolExecutor(threads) as pool:
            counts = list(pool.map(received, range(self.subscribers), chunksize=256))
        duplicates = sum(c - 1 for c in counts if c > 1)
        lost = sum(1 for c in counts if c == 0)
        return duplicates, lost


def held_messages(rt: Runtime, pid: int | None = None) -> set[int]:
    """Outbox rows in the hands of running send tasks (of worker process ``pid`` only, if given): right after a
    kill, the ones the dead worker held."""
    query = select(Task.kind, Task.args).where(
        Task.status == "running", Task.kind.in_(("message.send", "message.send_batch"))
    )
    if pid is not None:
        query = query.where(Task.worker.like(f"%:{pid}:%"))  # workers are named host:pid:thread
    with rt.db.session() as session:
        running = session.execute(query).all()
    held: set[int] = set()
    for kind, args in running:
        if kind == "message.send":
            held.add(int(args["message_id"]))
        else:
            held.update(int(message_id) for message_id, _recipient in args["messages"])
    return held


def settled(rt: Runtime, ids: set[int]) -> bool:
    """Every one of the outbox rows ``ids`` reached a final state."""
    with rt.db.session() as session:
        final = session.scalar(
            select(func.count()).where(OutboundMessage.id.in_(ids), OutboundMessage.status.in_(DONE))
        )
    return final == len(ids)


def prepare(
    folder: Path,
    *,
    subscribers: int,
    graph_url: str,
    graph_settings: dict[str, Any],
    worker_threads: int = 8,
    messages_per_second: float = 1000,
    notify: dict[str, Any] | None = None,
    processes: int = 1,
) -> Fanout:
    """Write the config, migrate, and insert a shop, a WhatsApp channel and ``subscribers`` opted-in subscribers
    waiting for one sold-out variant (bulk inserts: preparing 100,000 takes seconds). With several worker
    ``processes``, the rate limits are kept in the database so they hold across them."""
    folder.mkdir(parents=True, exist_ok=True)
    secrets = generate_secrets()
    settings = {
        "templates": {"back_in_stock": {"en": "bis_text"}},
        "reach_limit": 0,
        "messages_per_second": messages_per_second,
        "back_in_stock_factor": 1.0,
        "unknown_grace_seconds": 3.0,
        **({"rate_limit_storage": "database"} if processes > 1 else {}),
        **(notify or {}),
    }
    config_path = folder / "connector.toml"
    lines = [
        "[database]",
        f'url = "sqlite:///{folder / "connector.db"}"',
        "[security]",
        f'secret_key = "{secrets["secret_key"]}"',
        f'encryption_keys = ["{secrets["encryption_key"]}"]',
        "[scheduler]",
        "enabled = false",
        "[worker]",
        f"threads = {worker_threads}",
        "poll_interval = 0.05",  # the lease and heartbeat are the defaults: what recovery after a kill takes
        "[logging]",
        'level = "WARNING"',
        "[notify]",
    ]
    nested = {k: v for k, v in settings.items() if isinstance(v, dict)}
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items() if key not in nested]
    lines += ["[notify.templates.back_in_stock]", 'en = "bis_text"']
    config_path.write_text("\n".join(lines) + "\n")
    rt = Runtime(load_config(config_path))
    upgrade(rt.db)
    requests.post(
        f"{graph_url}/_sandbox/templates",
        json={
            "name": "bis_text",
            "language": "en_US",
            "category": "MARKETING",
            "components": [{"type": "BODY", "text": "{{1}} is back in stock. Reply to order it."}],
        },
        timeout=30,
    )
    fan = Fanout(
        folder,
        config_path,
        rt,
        graph_url,
        subscribers,
        verify_token=graph_settings["verify_token"],
        processes=processes,
    )
    with rt.db.session() as session:
        shop = ShopConnection(name="Bench shop", platform="woocommerce", settings={})
        session.add(shop)
        session.flush()
        fan.shop_id = shop.id
    channel_fields = {
        k: graph_settings[k]
        for k in ("phone_number_id", "access_token", "app_secret", "verify_token", "waba_id", "catalog_id", "graph_url")
    }
    channel = rt.connections.create_channel(
        shop_connection_id=fan.shop_id, name="Bench number", channel="whatsapp", settings=channel_fields
    )
    fan.channel_id = channel.id
    add_subscribers(
        rt, fan.shop_id, [channel.id], subscribers, stock=math.ceil(subscribers / settings["back_in_stock_factor"])
    )
    return fan


def add_subscribers(rt: Runtime, shop_id: int, channel_ids: list[int], count: int, *, stock: int) -> None:
    """The sold-out-then-restocked variant (``stock`` left) and ``count`` opted-in contacts subscribed to it, spread
    over ``channel_ids`` in turn (bulk inserts: 100,000 take seconds)."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        session.add(
            ShopVariant(
                shop_connection_id=shop_id,
                external_id=VARIANT,
                product_external_id=VARIANT,
                title="Limited sneaker",
                data={"price": {"amount": "89.90", "currency": "EUR"}},
                content_hash="x",
                stock_quantity=stock,
            )
        )
    with rt.db.engine.begin() as conn:
        for start in range(0, count, 5000):
            block = range(start, min(count, start + 5000))
            conn.execute(
                insert(Contact),
                [
                    {"channel_connection_id": channel_ids[i % len(channel_ids)], "channel_user_id": phone(i),
                     "phone": "+" + phone(i), "name": "", "created_at": now}
                    for i in block
                ],
            )  # fmt: skip
        ids = [row[0] for row in conn.execute(select(Contact.id).order_by(Contact.id))]
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            conn.execute(
                insert(Consent),
                [{"contact_id": c, "purpose": "marketing", "granted": True, "source": "bench", "text": "bench opt-in",
                  "granted_at": now, "updated_at": now} for c in chunk],
            )  # fmt: skip
            conn.execute(
                insert(BackInStockSubscription),
                [{"contact_id": c, "shop_connection_id": shop_id, "variant_external_id": VARIANT,
                  "status": "active", "active_key": f"{c}:{shop_id}:{VARIANT}", "source": "bench",
                  "created_at": now, "expires_at": now + timedelta(days=30)} for c in chunk],
            )  # fmt: skip


def start_webhook_receiver(fan: Fanout) -> Any:
    """The connector's web app in this process (no worker): status webhooks are stored while the worker is dead."""
    from connector.server import EmbeddedServer

    server = EmbeddedServer(fan.runtime, port=0, scheduler=False, worker=False)
    fan.runtime.config.server.public_url = server.url
    server.start()
    url = fan.runtime.connections.webhook_url("whatsapp", fan.channel_id)
    answer = requests.post(
        f"{fan.graph_url}/_sandbox/webhooks",
        json={"url": url, "object": "whatsapp_business_account", "verify_token": fan.verify_token},
        timeout=30,
    )
    answer.raise_for_status()
    return server


def start_wave(fan: Fanout) -> None:
    """What the ``connector_stock_changed`` hook does when the variant comes back: enqueue the wave."""
    from connector.notify.back_in_stock import start_wave as enqueue

    enqueue(fan.runtime, fan.shop_id, VARIANT)
