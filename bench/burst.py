"""Burst benchmark: ``python -m bench burst --json [--deliveries 40000] [--products 10]``.

A WooCommerce sandbox and the Graph sandbox run in their own processes; the connector (web app and embedded
worker, on SQLite, as ``connector serve`` runs by default) runs in this one. The burst is a bulk stock import:
``--deliveries`` webhooks for ``--products`` products, round-robin. Their bodies are the sandbox's own deliveries
(one per product, signed by it), each sent again with a new delivery id by ``--senders`` processes at once, as
a platform delivers a backlog (the sandbox itself sends one at a time, slower than the connector takes them). At
the start a full sync is queued (the nightly reconcile). During the burst:

* chat reply latency: every ``--chat-interval`` seconds a new customer writes; the time until the Graph
  sandbox accepted the bot's first reply to them (p50, p99, max);
* catalog sync lag: every ``--marker-interval`` seconds the stock of a product outside the burst changes; the time
  until the channel's catalog shows it (p50, p99, max);
* at the end of the burst (the connector has stored every delivery): tasks waiting, by kind (``catalog.sync``
  by mode); then the seconds until the queue is empty, and when the full sync started.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests

from bench._support import SandboxProcess, connect, machine, report, temp_runtime


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p99": round(p99, 3),
        "max": round(ordered[-1], 3),
    }


class _Probes:
    """Chat and catalog probes on their own threads while the burst runs; latencies in seconds."""

    def __init__(self, shop: SandboxProcess, graph: SandboxProcess, marker: str, args: argparse.Namespace):
        self.shop, self.graph, self.marker, self.args = shop, graph, marker, args
        self.chat: list[float] = []
        self.catalog: list[float] = []
        self.unanswered = 0
        self.unsynced = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._chats, daemon=True), threading.Thread(target=self._markers)]
        self._http = requests.Session()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _chats(self) -> None:
        waiting: dict[str, float] = {}
        n, next_at = 0, time.monotonic()
        http = requests.Session()
        while not self._stop.is_set() or waiting:
            now = time.monotonic()
            if not self._stop.is_set() and now >= next_at:
                wa_id = str(4915300000000 + n)
                body = {"wa_id": wa_id, "type": "text", "text": "Hallo", "name": f"Customer {n}"}
                http.post(f"{self.graph.url}/_sandbox/whatsapp/messages", json=body, timeout=60).raise_for_status()
                waiting[wa_id] = time.monotonic()
                n, next_at = n + 1, now + self.args.chat_interval
            for wa_id, sent in list(waiting.items()):
                answer = http.get(f"{self.graph.url}/_sandbox/messages", params={"to": wa_id}, timeout=60).json()
                if answer["messages"]:
                    self.chat.append(time.monotonic() - sent)
                    del waiting[wa_id]
                elif self._stop.is_set() and time.monotonic() - sent > self.args.give_up:
                    self.unanswered += 1
                    del waiting[wa_id]
            time.sleep(0.1)

    def _markers(self) -> None:
        http = requests.Session()
        catalog = f"{self.graph.url}/_sandbox/catalogs/{self.graph.settings['catalog_id']}/items"
        quantity = 1000
        while not self._stop.is_set():
            quantity += 1
            changed = time.monotonic()
            stock = {"variant_id": self.marker, "quantity": quantity}
            http.post(f"{self.shop.url}/_sandbox/stock", json=stock, timeout=60).raise_for_status()
            while True:
                items = http.get(catalog, timeout=60).json()["items"]
                shown = next((i for i in items if (i.get("retailer_id") or i.get("id")) == self.marker), {})
                if int(shown.get("inventory") or 0) >= quantity:
                    self.catalog.append(time.monotonic() - changed)
                    break
                if self._stop.is_set() and time.monotonic() - changed > self.args.give_up:
                    self.unsynced += 1
                    break
                time.sleep(0.1)
            self._stop.wait(self.args.marker_interval)


def _send(url: str, templates: list[tuple[bytes, dict[str, str]]], first: int, last: int) -> None:
    """Deliver webhooks ``first`` to ``last`` (in a sender process): product ``n % len(templates)``'s body."""
    session = requests.Session()
    for n in range(first, last):
        body, headers = templates[n % len(templates)]
        headers = {**headers, "X-WC-Webhook-Delivery-ID": f"bench-burst-{n}"}
        session.post(url, data=body, headers=headers, timeout=120).raise_for_status()


def _templates(rt: Any, shop: SandboxProcess, products: list[str]) -> list[tuple[bytes, dict[str, str]]]:
    """One real delivery per product: change its stock in the sandbox and take what the connector received."""
    from sqlalchemy import select

    from connector.db.models import WebhookEvent

    with rt.db.session() as session:
        after = session.scalar(select(WebhookEvent.id).order_by(WebhookEvent.id.desc()).limit(1)) or 0
    for product in products:
        shop.control("POST", "stock", json={"variant_id": product, "quantity": 100})
    deadline = time.monotonic() + 120
    while True:
        with rt.db.session() as session:
            events = list(
                session.scalars(
                    select(WebhookEvent).where(WebhookEvent.id > after, WebhookEvent.connection_kind == "shop")
                )
            )
        if len(events) >= len(products) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    skip = {"host", "content-length", "x-wc-webhook-delivery-id"}
    return [(e.body, {k: v for k, v in e.headers.items() if k.lower() not in skip}) for e in events]


def _waiting_by_kind(rt: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from connector.db.models import Task

    kind = Task.kind + ":" + func.coalesce(Task.args["mode"].as_string(), "")
    with rt.db.session() as session:
        rows = session.execute(
            select(kind, func.count()).where(Task.status.in_(("pending", "queued"))).group_by(kind)
        ).all()
    return {name.rstrip(":"): count for name, count in sorted(rows)}


def _stored_shop_webhooks(rt: Any) -> int:
    from sqlalchemy import func, select

    from connector.db.models import WebhookEvent

    with rt.db.session() as session:
        return session.scalar(select(func.count()).where(WebhookEvent.connection_kind == "shop")) or 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench burst")
    parser.add_argument("--deliveries", type=int, default=40_000, help="shop webhooks in the burst")
    parser.add_argument("--products", type=int, default=10, help="products whose stock the burst changes")
    parser.add_argument("--variants", type=int, default=200, help="variants in the shop (the full sync's size)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads of the connector")
    parser.add_argument("--senders", type=int, default=4, help="webhooks delivered at once")
    parser.add_argument("--chat-interval", type=float, default=1.0, help="seconds between new customers")
    parser.add_argument("--marker-interval", type=float, default=2.0, help="seconds between catalog probes")
    parser.add_argument("--give-up", type=float, default=600.0, help="seconds a probe waits after the burst")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # Stopped early (``kill``): still stop the sandbox and sender processes (the ``finally`` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from sqlalchemy import func, select

    from connector.db.models import SyncRun
    from connector.server import EmbeddedServer
    from connector.sync.catalog import run_sync

    shop = SandboxProcess("woocommerce", variants=args.variants).start()
    graph = SandboxProcess("graph", options={"mps": 100_000, "pair_limit": 100_000}).start()
    rt, folder = temp_runtime(worker={"threads": args.threads, "poll_interval": 0.05})
    server = EmbeddedServer(rt, port=0, scheduler=False)
    rt.config.server.public_url = server.url
    server.start()
    try:
        shop_row, _channel = connect(rt, "woocommerce", shop, graph)
        run_sync(rt, shop_row.id, mode="full", trigger="bench")
        rt.connections.shop_adapter(shop_row.id).register_webhooks(
            rt.connections.webhook_url("woocommerce", shop_row.id)
        )
        ids = shop.control("GET", "variants")["ids"]
        products, marker = ids[: args.products], ids[args.products]
        templates = _templates(rt, shop, products)
        url = rt.connections.webhook_url("woocommerce", shop_row.id)
        deliveries_before = _stored_shop_webhooks(rt)

        started = time.monotonic()
        started_at = datetime.now(UTC)
        rt.queue.enqueue("catalog.sync", {"shop_connection_id": shop_row.id, "mode": "full", "trigger": "schedule"})
        probes = _Probes(shop, graph, marker, args)
        probes.start()
        bounds = [args.deliveries * k // args.senders for k in range(args.senders + 1)]
        with ProcessPoolExecutor(args.senders, mp_context=multiprocessing.get_context("spawn")) as pool:
            sent = [pool.submit(_send, url, templates, a, b) for a, b in itertools.pairwise(bounds)]
            for future in sent:
                future.result()
        # Every delivery stored by the connector (the markers add their own): the burst is over.
        while _stored_shop_webhooks(rt) - deliveries_before < args.deliveries:
            time.sleep(0.2)
        burst_seconds = time.monotonic() - started
        waiting_at_end = _waiting_by_kind(rt)
        while rt.queue.next_due_in() == 0.0 or rt.queue.counts().get("running"):
            time.sleep(0.2)
        drained_seconds = time.monotonic() - started
        probes.stop()
        with rt.db.session() as session:
            full_started = session.scalar(
                select(SyncRun.started_at)
                .where(SyncRun.mode == "full", SyncRun.started_at >= started_at)
                .order_by(SyncRun.id)
            )
            targeted_runs = session.scalar(
                select(func.count()).where(SyncRun.mode == "items", SyncRun.started_at >= started_at)
            )
        result: dict[str, Any] = {
            "deliveries": args.deliveries,
            "products": args.products,
            "burst_seconds": round(burst_seconds, 1),
            "deliveries_per_second": round(args.deliveries / burst_seconds, 1),
            "chat_reply_latency_s": _percentiles(probes.chat),
            "chat_unanswered": probes.unanswered,
            "catalog_sync_lag_s": _percentiles(probes.catalog),
            "catalog_unsynced": probes.unsynced,
            "waiting_tasks_at_burst_end": waiting_at_end,
            "targeted_sync_runs": targeted_runs,
            "full_sync_started_after_s": None
            if full_started is None
            else round((full_started - started_at).total_seconds(), 1),
            "queue_drained_after_s": round(drained_seconds, 1),
            "worker_threads": args.threads,
            "machine": machine(),
        }
        chat, lag = result["chat_reply_latency_s"], result["catalog_sync_lag_s"]
        report(
            result,
            args.json,
            [
                f"burst benchmark: {args.deliveries} shop webhooks for {args.products} products in {burst_seconds:.1f} s",
                f"  chat reply latency: p50 {chat['p50']} s, p99 {chat['p99']} s ({chat['count']} customers)",
                f"  catalog sync lag:   p50 {lag['p50']} s, p99 {lag['p99']} s ({lag['count']} changes)",
                f"  waiting at the end of the burst: {waiting_at_end}",
                f"  full sync started after {result['full_sync_started_after_s']} s; queue empty after "
                f"{result['queue_drained_after_s']} s",
            ],
        )
        return 0
    finally:
        server.stop()
        rt.close()
        folder.cleanup()
        shop.stop()
        graph.stop()
