"""``python -m bench checkout``: 50 concurrent sandbox customers each send a 3-item WhatsApp cart.

The shop sandbox (WooCommerce by default) and the Graph sandbox run in their own processes; the connector
(web app + embedded worker) runs in this one on SQLite. For each cart the latency runs from the webhook's
arrival at the connector (``webhook_events.received_at``) until both the order exists in the shop (the
shop answered ``create_order``) and the channel accepted the reply with the payment link (``sent_at`` of
the outbox row). The Graph sandbox delivers ``--webhook-concurrency`` webhooks at once (8 by default: Meta
delivers concurrently). ``arrival_spread_ms`` is how far apart the first and the last cart webhook arrived,
``wall_seconds`` the time from the first customer's send to the last finished order. Then every cart webhook
is delivered a second time, and each customer sends the same cart again (a double tap): ``duplicate_orders``
counts shop orders beyond one per customer.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psutil
import requests

from bench import _customers
from bench._support import SandboxProcess, ThreadProfiles, connect, machine, report, temp_runtime


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class _SqlCounter:
    """Counts the connector's SQL transactions and the statements sent to the driver (savepoints included) between
    :meth:`start` and :meth:`stop`. Attached once, before the connector's threads start: SQLAlchemy's event lists
    must not change while those threads run through them (a listener added meanwhile fails a claim now and then
    with "deque mutated during iteration", and the worker thread that met it waits before claiming again)."""

    def __init__(self, engine: Any):
        from sqlalchemy import event

        self.transactions, self.statements, self.counting = 0, 0, False
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "before_cursor_execute", self._statement)

    def start(self) -> _SqlCounter:
        self.transactions, self.statements, self.counting = 0, 0, True
        return self

    def _begin(self, *_: Any) -> None:
        if self.counting:
            self.transactions += 1

    def _statement(self, *_: Any) -> None:
        if self.counting:
            self.statements += 1

    def stop(self) -> None:
        self.counting = False


def _poisson_offsets(rate: float, seconds: float, seed: int) -> list[float]:
    """Arrival times of a Poisson stream of ``rate`` per second over ``seconds`` (exponential gaps)."""
    rng = random.Random(seed)
    offsets, at = [], rng.expovariate(rate)
    while at < seconds:
        offsets.append(at)
        at += rng.expovariate(rate)
    return offsets


class _Checkout:
    """The connector (this process), the sandboxes and a customer process; runs cart phases and browse phases."""

    def __init__(
        self,
        rt: Any,
        shop: SandboxProcess,
        graph: SandboxProcess,
        channel_id: int,
        in_stock: list[str],
        sql: _SqlCounter,
    ):
        self.rt, self.shop, self.graph, self.channel_id, self.in_stock = rt, shop, graph, channel_id, in_stock
        self.sql = sql
        self.customers = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self.next_customer = 0
        self.me = psutil.Process()

    def close(self) -> None:
        self.customers.shutdown()

    def cart_of(self, n: int) -> dict[str, Any]:
        picks = [self.in_stock[(n * 3 + k) % len(self.in_stock)] for k in range(3)]
        return {
            "wa_id": str(4915200000000 + n),
            "type": "order",
            "name": f"Customer {n}",
            "product_items": [{"product_retailer_id": rid, "quantity": 1} for rid in picks],
        }

    def _finished(self, wamids: list[str]) -> list[tuple[Any, Any, str]]:
        from sqlalchemy import select

        from connector.db.models import InboundMessage, OutboundMessage
        from connector.db.models_conversation import ChatOrder, ChatReply

        rows: list[tuple[Any, Any, str]] = []
        with self.rt.db.session() as session:
            for start in range(0, len(wamids), 500):
                rows += session.execute(
                    select(ChatOrder.updated_at, OutboundMessage.sent_at, InboundMessage.message_id)
                    .join(ChatOrder, ChatOrder.inbound_message_id == InboundMessage.id)
                    .join(ChatReply, (ChatReply.inbound_message_id == InboundMessage.id) & (ChatReply.seq == 0))
                    .join(OutboundMessage, OutboundMessage.id == ChatReply.outbound_message_id)
                    .where(
                        InboundMessage.message_id.in_(wamids[start : start + 500]),
                        ChatOrder.status == "created",
                        OutboundMessage.sent_at.is_not(None),
                    )
                ).all()
        return rows

    def _arrivals(self, since: datetime) -> dict[str, datetime]:
        from sqlalchemy import select

        from connector.db.models import WebhookEvent

        with self.rt.db.session() as session:
            events = session.execute(
                select(WebhookEvent.received_at, WebhookEvent.body).where(
                    WebhookEvent.connection_kind == "channel",
                    WebhookEvent.connection_id == self.channel_id,
                    WebhookEvent.received_at >= since,
                )
            ).all()
            arrival: dict[str, datetime] = {}
            for received_at, body in events:
                if b'"messages"' not in body:
                    continue
                for entry in json.loads(body).get("entry", []):
                    for change in entry.get("changes", []):
                        for message in change.get("value", {}).get("messages", []):
                            arrival.setdefault(message["id"], received_at)
        return arrival

    def carts(self, offsets: list[float]) -> dict[str, Any]:
        """Send a cart at each offset (seconds from the start); latencies from each cart's arrival at the connector
        to its order in the shop and its reply accepted by the channel, and the connector's CPU per order."""
        first = self.next_customer
        self.next_customer += len(offsets)
        plan = [(offset, self.cart_of(first + i)) for i, offset in enumerate(offsets)]
        since = datetime.now(UTC)
        sql = self.sql.start()
        cpu_before = _cpu_seconds(self.me)
        started = time.perf_counter()
        sent = self.customers.submit(_customers.send_carts, self.graph.url, plan).result()
        wamids = [wamid for wamid, _late in sent]
        done = self._finished(wamids)
        deadline = time.monotonic() + 600
        while len(done) < len(wamids) and time.monotonic() < deadline:
            time.sleep(0.5)  # one query per half second: a crumb of this process's CPU
            done = self._finished(wamids)
        wall = time.perf_counter() - started
        cpu = _cpu_seconds(self.me) - cpu_before
        sql.stop()
        arrival = self._arrivals(since)
        latencies = [
            (max(order_at, sent_at) - arrival[wamid]).total_seconds() * 1000
            for order_at, sent_at, wamid in done
            if wamid in arrival
        ]
        spread = (max(arrival.values()) - min(arrival.values())).total_seconds() if arrival else 0.0
        return {
            "carts": len(offsets),
            "completed": len(latencies),
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p99_ms": round(_percentile(latencies, 0.99), 1) if latencies else None,
            "max_ms": round(max(latencies), 1) if latencies else None,
            "arrival_spread_ms": round(spread * 1000, 1),
            "sent_late_p99_ms": round(_percentile([late * 1000 for _, late in sent], 0.99), 1),
            "wall_seconds": round(wall, 2),
            "orders_per_second": round(len(done) / wall, 1) if wall > 0 else None,
            "connector_cpu_ms_per_order": round(cpu * 1000 / max(1, len(done)), 2),
            "sql_per_order": {
                "transactions": round(sql.transactions / max(1, len(done)), 1),
                "statements": round(sql.statements / max(1, len(done)), 1),
            },
            "wamids": wamids,
        }

    def browse(self, customers: int) -> dict[str, Any]:
        """Customers browsing (menu, collections, a product list): the connector's CPU per message answered."""
        wa_ids = [str(4915900000000 + self.next_customer + n) for n in range(customers)]
        self.next_customer += customers
        sql = self.sql.start()
        cpu_before = _cpu_seconds(self.me)
        outcome = self.customers.submit(_customers.browse, self.graph.url, wa_ids).result()
        # The last turn's replies may still be going out: wait until the outbox is quiet.
        time.sleep(1.0)
        cpu = _cpu_seconds(self.me) - cpu_before
        sql.stop()
        latencies = [x * 1000 for x in outcome["latencies"]]
        turns = max(1, outcome["turns"])
        return {
            "customers": customers,
            "messages_answered": outcome["turns"],
            "connector_cpu_ms_per_message": round(cpu * 1000 / turns, 2),
            "sql_per_message": {
                "transactions": round(sql.transactions / turns, 1),
                "statements": round(sql.statements / turns, 1),
            },
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p99_ms": round(_percentile(latencies, 0.99), 1) if latencies else None,
        }

    def duplicates(self, customers: int, wamids: list[str]) -> int:
        """Redeliver the given carts' webhooks and let those customers tap "send" again; shop orders beyond one each."""
        from sqlalchemy import select

        from connector.db.models import InboundMessage, WebhookEvent
        from connector.db.models_conversation import ChatReply

        orders_before = len(self.shop.control("GET", "orders")["orders"])
        url = self.rt.connections.webhook_url("whatsapp", self.channel_id)
        with self.rt.db.session() as session:
            raw = session.execute(
                select(WebhookEvent.headers, WebhookEvent.body).where(
                    WebhookEvent.connection_kind == "channel", WebhookEvent.connection_id == self.channel_id
                )
            ).all()
        wanted = [r for r in raw if any(w.encode() in r[1] for w in wamids)]

        def redeliver(item: tuple[dict[str, str], bytes]) -> int:
            headers = {k: v for k, v in item[0].items() if k.lower().startswith("x-hub") or k.lower() == "content-type"}
            return requests.post(url, data=item[1], headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(redeliver, wanted))
        first = self.next_customer - customers  # the customers of the last cart phase
        taps = self.customers.submit(
            _customers.send_carts, self.graph.url, [(0.0, self.cart_of(first + n)) for n in range(customers)]
        ).result()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with self.rt.db.session() as session:
                answered = session.scalar(
                    select(ChatReply.id)
                    .join(InboundMessage, InboundMessage.id == ChatReply.inbound_message_id)
                    .where(InboundMessage.message_id == taps[-1][0])
                )
            if answered:
                break
            time.sleep(0.2)
        time.sleep(1.0)
        return len(self.shop.control("GET", "orders")["orders"]) - orders_before


def main(argv: list[str]) -> int:
    """Run the checkout benchmark; print the JSON result (``--json``) and a summary."""
    parser = argparse.ArgumentParser(prog="python -m bench checkout")
    parser.add_argument("--customers", type=int, default=50, help="carts of the burst (all at once)")
    parser.add_argument("--shop", default="woocommerce", choices=["shopify", "woocommerce", "shopware"])
    parser.add_argument("--threads", type=int, default=6, help="worker threads of the connector")
    parser.add_argument("--browsers", type=int, default=20, help="customers browsing (3 messages each)")
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second of the Poisson stream")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the Poisson stream")
    parser.add_argument(
        "--search-rates",
        default="10,15,20,30,40",
        help="rates (orders/s) tried for max_rate_p99_1s, each for --search-seconds, until p99 exceeds 1 s ('' skips)",
    )
    parser.add_argument("--search-seconds", type=float, default=20.0)
    parser.add_argument(
        "--webhook-concurrency",
        type=int,
        default=8,
        help="webhooks the Graph sandbox delivers at once, as Meta does (1: one after the other, each once the "
        "connector answered the previous one: arrivals then spread out and the latency from arrival looks shorter)",
    )
    parser.add_argument("--profile", metavar="FILE", help="profile the connector's threads, write pstats to FILE")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from connector.server import EmbeddedServer
    from connector.sync.catalog import run_sync

    if args.shop == "shopware":
        parser.error("Shopware needs a delivery address before an order: the benchmark measures one-message checkout")
    shop = SandboxProcess(args.shop).start()
    graph = SandboxProcess(
        "graph", options={"mps": 100_000, "pair_limit": 100_000, "webhook_concurrency": args.webhook_concurrency}
    ).start()
    # The worker's default poll interval: new tasks wake it at once; polling only finds delayed ones (retries).
    rt, folder = temp_runtime(worker={"threads": args.threads})
    server = EmbeddedServer(rt, port=0, scheduler=False)
    rt.config.server.public_url = server.url
    profiles = ThreadProfiles() if args.profile else None
    sql = _SqlCounter(rt.db.engine)  # before any of the connector's threads starts
    server.start()
    bench: _Checkout | None = None
    try:
        shop_row, channel = connect(rt, args.shop, shop, graph)
        run_sync(rt, shop_row.id, mode="full", trigger="bench")
        items = graph.control("GET", f"catalogs/{graph.settings['catalog_id']}/items")["items"]
        in_stock = [i["id"] for i in items if i.get("availability") == "in stock" and int(i.get("inventory") or 0) > 20]
        bench = _Checkout(rt, shop, graph, channel.id, in_stock, sql)
        bench.carts([0.0] * 3)  # warm-up: first requests, caches, the customer process
        browsing = bench.browse(args.browsers)
        burst = bench.carts([0.0] * args.customers)
        burst_wamids = burst.pop("wamids")
        poisson = bench.carts(_poisson_offsets(args.rate, args.seconds, seed=1))
        poisson.pop("wamids")
        search: list[dict[str, Any]] = []
        max_rate: float | None = None
        for rate in [float(r) for r in args.search_rates.split(",") if r.strip()]:
            step = bench.carts(_poisson_offsets(rate, args.search_seconds, seed=int(rate)))
            step.pop("wamids")
            search.append({"rate_per_second": rate, **{k: step[k] for k in ("carts", "completed", "p99_ms")}})
            if step["p99_ms"] is None or step["p99_ms"] > 1000 or step["completed"] < step["carts"]:
                break
            max_rate = rate
        created = bench.duplicates(args.customers, burst_wamids)
        result: dict[str, Any] = {
            "shop": args.shop,
            "connector_cpu_ms_per_order": poisson["connector_cpu_ms_per_order"],
            "connector_cpu_ms_per_message": browsing["connector_cpu_ms_per_message"],
            "poisson_rate_per_second": args.rate,
            "poisson_p99_ms": poisson["p99_ms"],
            "max_rate_p99_1s": max_rate,
            "burst_p99_ms": burst["p99_ms"],
            "duplicate_orders": max(0, created),
            "poisson": poisson,
            "burst": burst,
            "browse": browsing,
            "rate_search": search,
            "worker_threads": args.threads,
            "webhook_concurrency": args.webhook_concurrency,
            "load_average": os.getloadavg(),
            "machine": machine(),
        }
        report(
            result,
            args.json,
            [
                f"checkout benchmark, {args.shop} sandbox, 3-item carts",
                f"  browsing:  {browsing['messages_answered']} messages, "
                f"{browsing['connector_cpu_ms_per_message']} ms connector CPU each",
                f"  Poisson {args.rate}/s for {args.seconds:g} s: p99 {poisson['p99_ms']} ms, "
                f"{poisson['connector_cpu_ms_per_order']} ms connector CPU per order, SQL {poisson['sql_per_order']}",
                f"  highest rate with p99 <= 1 s: {max_rate} orders/s ({search})",
                f"  burst of {args.customers}: p99 {burst['p99_ms']} ms, spread {burst['arrival_spread_ms']} ms",
                f"  duplicate orders after redelivering the burst's webhooks and a double tap each: {max(0, created)}",
            ],
        )
        if profiles is not None:
            profiles.dump(args.profile)
        return 0
    finally:
        if bench is not None:
            bench.close()
        server.stop()
        rt.close()
        shop.stop()
        graph.stop()
        folder.cleanup()
