"""Scale-out benchmark: ``python -m bench scale --json [--shops 1000] [--big-variants 100000]``.

Runs the distributed deployment as real processes (``connector worker`` and ``connector scheduler`` for the
relay) on a fresh PostgreSQL database with RabbitMQ and Redis, the sandboxes in their own processes.

* fan-out messages/s with 1 and 2 default workers, "rate limit off" (10 numbers at 1,000/s each, far above
  what the machine reaches) and "limited" (1 number at 1,000/s): rate = messages / (last send - first send);
* ``--shops`` delta syncs whose hourly ticks are spread over ``--window`` seconds (an hour compressed
  ``3600 / window`` times, so the load per second equals ``shops * 3600 / window`` shops syncing hourly):
  share started within ``--tolerance`` seconds of their due time, and the p99 delay. The small shops are
  spread over sandbox processes (``--shops-per-server``), as real shops live on different servers. Topology of a large
  deployment (docs/scaling.md): 2 workers of the regular queue and 1 bulk worker (``--queues <bulk>
  --nice 10``);
* the same while one shop runs a full sync of ``--big-variants`` variants, in that topology, and (for
  comparison, unless ``--no-one-queue``) with 2 default workers that consume both queues at normal priority.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench._cluster import Cluster, start_cluster
from bench._cpu_by_process import CpuByProcess
from bench._support import SandboxProcess, machine, report

ADMIN_URL = os.environ.get("CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
#: Niceness of the bulk worker in the split topology (as docs/scaling.md recommends).
BULK_NICE = 10


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


def _cluster(notify: dict[str, Any]) -> tuple[Cluster, Any]:
    """A migrated database and a cluster with only the relay (scheduler) up; workers start later."""
    url, drop = _database()
    folder = tempfile.mkdtemp(prefix="connector-scale-")
    c = start_cluster(Path(folder), url, web=False, workers=0, schedulers=1, notify=notify, tick_seconds=0)
    return c, drop


def _start_workers(c: Cluster, count: int, *, split: bool = False) -> None:
    """``count`` default workers (every queue); with ``split`` they consume only the regular queue and one
    niced worker consumes the bulk queue."""
    settings = c.runtime.config.cluster
    only = ["--queues", settings.queue] if split else []
    for i in range(count):
        c.start_worker(f"worker{i + 1}", *only)
    if split:
        c.start_worker("bulk", "--queues", settings.bulk_queue, "--nice", str(BULK_NICE))


def _commit() -> str:
    """The code measured: ``git describe`` of this checkout (``-dirty`` with uncommitted changes)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


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


def fanout(
    workers: int,
    messages: int,
    *,
    numbers: int,
    shop: SandboxProcess,
    graph: SandboxProcess,
    cores: dict[str, dict[str, float]],
) -> float:
    """Messages per second sent by ``workers`` worker processes: a back-in-stock wave to ``messages`` opted-in
    subscribers spread over ``numbers`` channel connections, as a restock fires it (batched sends). The cores each
    kind of process used from the first sends to the last go into ``cores`` (not measured when the first look at
    the outbox already finds half of the messages sent)."""
    from connector.db.models import OutboundMessage
    from connector.notify.back_in_stock import start_wave

    harness = importlib.import_module("bench._fanout_harness")
    c, drop = _cluster(
        {
            "messages_per_second": 1000,
            "pair_limit": 1_000_000,
            "reach_limit": 0,
            "back_in_stock_factor": 1.0,
            "templates": {"back_in_stock": {"en": "bis_text"}},
        }
    )
    try:
        rt = c.runtime
        shop_id = _shop(rt, shop, "fan-out shop")
        channels = _channels(rt, graph, shop_id, numbers)
        answer = requests.post(
            f"{graph.url}/_sandbox/templates",
            json={"name": "bis_text", "language": "en_US", "category": "MARKETING",
                  "components": [{"type": "BODY", "text": "{{1}} is back in stock. Reply to order it."}]},
            timeout=30,
        )  # fmt: skip
        if answer.status_code != 200 and "exist" not in answer.text:  # the first measurement created it
            answer.raise_for_status()
        harness.add_subscribers(rt, shop_id, channels, messages, stock=messages)
        start_wave(rt, shop_id, harness.VARIANT)
        meter = CpuByProcess(
            {
                "workers": lambda: [p.pid for name, p in c.procs.items() if name.startswith("worker")],
                "relay": lambda: [p.pid for name, p in c.procs.items() if not name.startswith("worker")],
                "sandboxes": lambda: [graph.process.pid, shop.process.pid],
                "benchmark": lambda: [os.getpid()],
            }
        )
        _start_workers(c, workers)
        metering = False  # from the first sends on: the workers' start-up (imports) is not the fan-out's CPU
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with rt.db.session() as session:
                sent = session.scalar(
                    select(func.count()).select_from(OutboundMessage).where(OutboundMessage.status == "sent")
                )
                if not metering and 0 < sent < messages // 2:
                    meter.start()
                    metering = True
                if sent >= messages:
                    first, last = session.execute(
                        select(func.min(OutboundMessage.sent_at), func.max(OutboundMessage.sent_at))
                    ).one()
                    if metering:
                        cores[f"{workers}_worker{'s' if workers > 1 else ''}_{numbers}_numbers"] = meter.cores()
                    return round(messages / max(0.001, (last - first).total_seconds()), 1)
            time.sleep(0.5)
        raise RuntimeError("fan-out did not finish in 10 minutes")
    finally:
        c.stop()
        drop()


def syncs(
    shops: int,
    *,
    window: float,
    tolerance: float,
    big_variants: int,
    shop_servers: list[SandboxProcess],
    workers: int,
    split: bool,
) -> dict[str, Any]:
    """On-time share and p99 delay of ``shops`` delta syncs spread over ``window`` s (with a big full sync if asked)."""
    from connector.db.models import SyncRun, Task

    c, drop = _cluster({})
    big: SandboxProcess | None = None
    try:
        rt = c.runtime
        ids = [_shop(rt, shop_servers[n % len(shop_servers)], f"shop {n}") for n in range(shops)]
        _start_workers(c, workers, split=split)
        time.sleep(3)  # workers connected
        big_id = None
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
        result: dict[str, Any] = {"on_time_share": round(on_time, 4), "delay_p99_seconds": round(p99, 2)}
        if big_id is not None:
            result["big_sync_seconds"] = _big_sync_seconds(rt, big_id, timeout=600)
        return result
    finally:
        c.stop()
        drop()
        if big is not None:
            big.stop()


def _big_sync_seconds(rt: Any, shop_id: int, *, timeout: float) -> float | None:
    """How long the big shop's full sync took (waiting up to ``timeout`` s for it to end; ``None`` if not)."""
    from connector.db.models import SyncRun

    deadline = time.monotonic() + timeout
    while True:
        with rt.db.session() as session:
            run = session.execute(
                select(SyncRun.status, SyncRun.started_at, SyncRun.finished_at).where(
                    SyncRun.shop_connection_id == shop_id
                )
            ).first()
        if run is not None and run.finished_at is not None:
            return round((run.finished_at - run.started_at).total_seconds(), 1) if run.status == "succeeded" else None
        if time.monotonic() > deadline:
            return None
        time.sleep(1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--shops", type=int, default=1000)
    parser.add_argument("--window", type=float, default=120.0, help="seconds the shops' hourly ticks spread over")
    parser.add_argument("--tolerance", type=float, default=5.0, help="a sync started within this many s is on time")
    parser.add_argument("--messages", type=int, default=20_000, help="subscribers of the fan-out wave")
    parser.add_argument("--big-variants", type=int, default=100_000)
    parser.add_argument(
        "--shops-per-server",
        type=int,
        default=100,
        help="small shops served by one sandbox process (each shop's adapter keeps its own keep-alive connections, "
        "so one process standing in for 1,000 shops' servers runs out of connections)",
    )
    parser.add_argument("--no-fanout", action="store_true", help="skip the fan-out measurements")
    parser.add_argument("--no-one-queue", action="store_true", help="skip the comparison without a bulk worker")
    parser.add_argument("--no-syncs", action="store_true", help="only the fan-out measurements")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    shop = SandboxProcess("woocommerce").start()
    graph = SandboxProcess("graph", options={"mps": 100_000, "pair_limit": 1_000_000}).start()
    servers = [shop] + [
        SandboxProcess("woocommerce").start()
        for _ in range(1, 1 if args.no_syncs else -(-args.shops // max(1, args.shops_per_server)))
    ]
    sync_args = {"window": args.window, "tolerance": args.tolerance, "shop_servers": servers, "workers": 2}
    one = two = limited = ceiling_per_second = None
    cores: dict[str, dict[str, float]] = {}
    one_queue: dict[str, Any] = {}
    calm: dict[str, Any] = {}
    busy: dict[str, Any] = {}
    try:
        if not args.no_fanout:
            # What the Graph sandbox itself takes from a plain load generator: the most two workers could reach.
            ceiling_per_second = round(importlib.import_module("bench.fanout").ceiling(graph.url, graph.settings), 1)
            one = fanout(1, args.messages, numbers=10, shop=shop, graph=graph, cores=cores)
            two = fanout(2, args.messages, numbers=10, shop=shop, graph=graph, cores=cores)
            limited = fanout(2, args.messages, numbers=1, shop=shop, graph=graph, cores=cores)
        if not args.no_syncs:
            calm = syncs(args.shops, big_variants=0, split=True, **sync_args)
            busy = syncs(args.shops, big_variants=args.big_variants, split=True, **sync_args)
        if not args.no_syncs and not args.no_one_queue:
            one_queue = syncs(args.shops, big_variants=args.big_variants, split=False, **sync_args)
    finally:
        for server in servers:
            server.stop()
        graph.stop()
    result = {
        "fanout_1_worker_per_second": one,
        "fanout_2_workers_per_second": two,
        "fanout_2_workers_limited_per_second": limited,
        "fanout_scaling_2_to_1": round(two / one, 2) if one and two else None,
        "sandbox_ceiling_per_second": ceiling_per_second,
        "fanout_cpu_cores": cores,
        "load_average": os.getloadavg(),
        "fanout_messages": args.messages,
        "shops": args.shops,
        "sync_window_seconds": args.window,
        "time_compression": round(3600 / args.window, 1),
        "on_time_tolerance_seconds": args.tolerance,
        "sync_topology": f"2 regular workers + 1 bulk worker (nice {BULK_NICE}), 1 scheduler",
        "on_time_share": calm.get("on_time_share"),
        "delay_p99_seconds": calm.get("delay_p99_seconds"),
        "on_time_share_during_big_sync": busy.get("on_time_share"),
        "delay_p99_seconds_during_big_sync": busy.get("delay_p99_seconds"),
        "big_sync_seconds": busy.get("big_sync_seconds"),
        "on_time_share_during_big_sync_one_queue": one_queue.get("on_time_share"),
        "delay_p99_seconds_during_big_sync_one_queue": one_queue.get("delay_p99_seconds"),
        "big_sync_seconds_one_queue": one_queue.get("big_sync_seconds"),
        "big_sync_variants": args.big_variants,
        "shops_per_server": args.shops_per_server,
        "code": _commit(),
        "machine": machine(),
    }
    lines = []
    if calm:
        lines += [
            f"{args.shops} shops, hourly ticks compressed into {args.window:g}s: {calm['on_time_share']:.1%} on time "
            f"(<= {args.tolerance:g}s), p99 delay {calm['delay_p99_seconds']}s",
            f"during a {args.big_variants}-variant full sync on the bulk worker: {busy['on_time_share']:.1%} on time, "
            f"p99 {busy['delay_p99_seconds']}s (full sync {busy['big_sync_seconds']}s)",
        ]
    if one is not None:
        lines.insert(
            0,
            f"fan-out: 1 worker {one}/s, 2 workers {two}/s, 2 workers on one number at 1,000/s {limited}/s "
            f"(the sandbox alone takes {ceiling_per_second}/s)",
        )
        for at, (phase, used) in enumerate(cores.items(), start=1):
            lines.insert(at, f"  cores used, {phase.replace('_', ' ')}: {used}")
    if one_queue:
        lines.append(
            f"the same with 2 default workers and no bulk worker: {one_queue['on_time_share']:.1%} on time, "
            f"p99 {one_queue['delay_p99_seconds']}s (full sync {one_queue['big_sync_seconds']}s)"
        )
    report(result, args.json, lines)
    return 0
