"""Scale-out benchmark: ``python -m bench scale --json [--shops 1000] [--big-variants 100000]``.

Runs the distributed deployment as real processes (``connector worker`` x1/x2 and ``connector scheduler``
for the relay) on a fresh PostgreSQL database with RabbitMQ and Redis, the sandboxes in their own processes.

* fan-out messages/s with 1 and 2 workers, "rate limit off" (10 numbers at 1,000/s each, far above what the
  machine reaches) and "limited" (1 number at 1,000/s): rate = messages / (last send - first send);
* ``--shops`` delta syncs whose hourly ticks are spread over ``--window`` seconds (an hour compressed
  ``3600 / window`` times, so the load per second equals ``shops * 3600 / window`` shops syncing hourly):
  share started within ``--tolerance`` seconds of their due time, and the p99 delay;
* the same while one shop runs a full sync of ``--big-variants`` variants.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench._support import SandboxProcess, machine, report

ADMIN_URL = os.environ.get("CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _database() -> tuple[str, Any]:
    name = f"connector_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False), drop


def _cluster(notify: dict[str, Any]) -> tuple[Any, Any]:
    """A migrated database and a cluster with only the relay (scheduler) up; workers start later."""
    from tests.cluster.conftest import start_cluster

    url, drop = _database()
    folder = tempfile.mkdtemp(prefix="connector-scale-")
    c = start_cluster(Path(folder), url, web=False, workers=0, schedulers=1, notify=notify, tick_seconds=0)
    return c, drop


def _start_workers(c: Any, count: int) -> None:
    for i in range(count):
        c.start(f"worker{i + 1}", "worker", "--loglevel", "WARNING")


def _channels(rt: Any, graph: SandboxProcess, shop_id: int, count: int) -> list[int]:
    """``count`` channel connections on the sandbox's number: each has its own throughput bucket (the limiter
    is keyed by connection), so ten of them stand for ten numbers."""
    cls = rt.plugins.channel_adapters["whatsapp"]
    settings = {k: v for k, v in graph.settings.items() if k in {f.name for f in cls.config_fields}}
    return [
        rt.connections.create_channel(
            shop_connection_id=shop_id, name=f"n{n}", channel="whatsapp", settings=settings
        ).id
        for n in range(count)
    ]


def _shop(rt: Any, shop: SandboxProcess, name: str) -> int:
    cls = rt.plugins.shop_adapters["woocommerce"]
    names = {f.name for f in cls.config_fields}
    return rt.connections.create_shop(
        name=name, platform="woocommerce", settings={k: v for k, v in shop.settings.items() if k in names}
    ).id


def fanout(workers: int, messages: int, *, numbers: int, shop: SandboxProcess, graph: SandboxProcess) -> float:
    """Messages per second sent by ``workers`` worker processes."""
    from connector import model
    from connector.chat.messages import queue_message
    from connector.db.models import OutboundMessage

    c, drop = _cluster({"messages_per_second": 1000, "pair_limit": 1_000_000})
    try:
        rt = c.runtime
        shop_id = _shop(rt, shop, "fan-out shop")
        channels = _channels(rt, graph, shop_id, numbers)
        people = [f"4917{n:08d}" for n in range(100)]
        for wa_id in people:
            graph.control("POST", "whatsapp/messages", json={"wa_id": wa_id, "type": "text", "text": "hi"})
        for start in range(0, messages, 500):
            with rt.db.session() as session:
                for n in range(start, min(messages, start + 500)):
                    queue_message(
                        rt,
                        channel_connection_id=channels[n % len(channels)],
                        recipient=people[n % len(people)],
                        message=model.TextMessage(body=f"bench #{n}"),
                        kind="test",
                        idempotency_key=f"bench:{n}",
                        session=session,
                    )
        _start_workers(c, workers)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with rt.db.session() as session:
                sent = session.scalar(
                    select(func.count()).select_from(OutboundMessage).where(OutboundMessage.status == "sent")
                )
                if sent >= messages:
                    first, last = session.execute(
                        select(func.min(OutboundMessage.sent_at), func.max(OutboundMessage.sent_at))
                    ).one()
                    return round(messages / max(0.001, (last - first).total_seconds()), 1)
            time.sleep(0.5)
        raise RuntimeError("fan-out did not finish in 10 minutes")
    finally:
        c.stop()
        drop()


def syncs(
    shops: int, *, window: float, tolerance: float, big_variants: int, shop: SandboxProcess, workers: int
) -> dict[str, float]:
    """On-time share and p99 delay of ``shops`` delta syncs spread over ``window`` s (with a big full sync if asked)."""
    from connector.db.models import SyncRun, Task

    c, drop = _cluster({})
    big: SandboxProcess | None = None
    try:
        rt = c.runtime
        ids = [_shop(rt, shop, f"shop {n}") for n in range(shops)]
        _start_workers(c, workers)
        time.sleep(3)  # workers connected
        if big_variants:
            big = SandboxProcess("woocommerce", variants=big_variants).start()
            big_id = _shop(rt, big, "big shop")
            rt.queue.enqueue("catalog.sync", {"shop_connection_id": big_id, "mode": "full", "trigger": "schedule"})
            time.sleep(2)  # the big sync is running
        task_ids = []
        for n, shop_id in enumerate(ids):
            task_ids.append(
                rt.queue.enqueue(
                    "catalog.sync",
                    {"shop_connection_id": shop_id, "mode": "delta", "trigger": "schedule"},
                    delay=window * n / shops,
                )
            )
        deadline = time.monotonic() + window + 600
        while time.monotonic() < deadline:
            with rt.db.session() as session:
                started = session.scalar(
                    select(func.count(func.distinct(SyncRun.shop_connection_id))).where(
                        SyncRun.shop_connection_id.in_(ids)
                    )
                )
            if started >= shops:
                break
            time.sleep(1)
        with rt.db.session() as session:
            rows = session.execute(
                select(Task.args["shop_connection_id"].as_integer(), Task.due_at).where(Task.id.in_(task_ids))
            ).all()
            due = {shop_id: due_at for shop_id, due_at in rows}
            starts = dict(
                session.execute(
                    select(SyncRun.shop_connection_id, func.min(SyncRun.started_at))
                    .where(SyncRun.shop_connection_id.in_(ids))
                    .group_by(SyncRun.shop_connection_id)
                ).all()
            )
        delays = sorted(max(0.0, (starts[s] - due[s]).total_seconds()) for s in ids if s in starts)
        delays += [float(window + 600)] * (shops - len(delays))  # never started: count as very late
        on_time = sum(1 for d in delays if d <= tolerance) / shops
        p99 = delays[min(len(delays) - 1, int(0.99 * len(delays)))]
        return {"on_time_share": round(on_time, 4), "delay_p99_seconds": round(p99, 2)}
    finally:
        c.stop()
        drop()
        if big is not None:
            big.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--shops", type=int, default=1000)
    parser.add_argument("--window", type=float, default=120.0, help="seconds the shops' hourly ticks spread over")
    parser.add_argument("--tolerance", type=float, default=5.0, help="a sync started within this many s is on time")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--big-variants", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    shop = SandboxProcess("woocommerce").start()
    graph = SandboxProcess("graph", options={"mps": 100_000, "pair_limit": 1_000_000}).start()
    try:
        one = fanout(1, args.messages, numbers=10, shop=shop, graph=graph)
        two = fanout(2, args.messages, numbers=10, shop=shop, graph=graph)
        limited = fanout(2, args.messages, numbers=1, shop=shop, graph=graph)
        calm = syncs(args.shops, window=args.window, tolerance=args.tolerance, big_variants=0, shop=shop, workers=2)
        busy = syncs(
            args.shops,
            window=args.window,
            tolerance=args.tolerance,
            big_variants=args.big_variants,
            shop=shop,
            workers=2,
        )
    finally:
        shop.stop()
        graph.stop()
    result = {
        "fanout_1_worker_per_second": one,
        "fanout_2_workers_per_second": two,
        "fanout_2_workers_limited_per_second": limited,
        "fanout_messages": args.messages,
        "shops": args.shops,
        "sync_window_seconds": args.window,
        "time_compression": round(3600 / args.window, 1),
        "on_time_tolerance_seconds": args.tolerance,
        "on_time_share": calm["on_time_share"],
        "delay_p99_seconds": calm["delay_p99_seconds"],
        "on_time_share_during_big_sync": busy["on_time_share"],
        "delay_p99_seconds_during_big_sync": busy["delay_p99_seconds"],
        "big_sync_variants": args.big_variants,
        "machine": machine(),
    }
    report(
        result,
        args.json,
        [
            f"fan-out: 1 worker {one}/s, 2 workers {two}/s, 2 workers on one number at 1,000/s {limited}/s",
            f"{args.shops} shops, hourly ticks compressed into {args.window:g}s: {calm['on_time_share']:.1%} on time "
            f"(<= {args.tolerance:g}s), p99 delay {calm['delay_p99_seconds']}s",
            f"during a {args.big_variants}-variant full sync: {busy['on_time_share']:.1%} on time, "
            f"p99 {busy['delay_p99_seconds']}s",
        ],
    )
    return 0
