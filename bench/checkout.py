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
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import requests

from bench._support import SandboxProcess, connect, machine, report, temp_runtime


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class _SqlCounter:
    """Counts the connector's SQL transactions and the statements sent to the driver (savepoints included) until
    :meth:`stop`. The listeners stay attached (SQLAlchemy's event lists must not change while the worker's threads
    run through them); they just stop counting."""

    def __init__(self, engine: Any):
        from sqlalchemy import event

        self.transactions, self.statements, self.counting = 0, 0, True
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _begin(self, *_: Any) -> None:
        if self.counting:
            self.transactions += 1

    def _statement(self, *_: Any) -> None:
        if self.counting:
            self.statements += 1

    def stop(self) -> None:
        self.counting = False


def main(argv: list[str]) -> int:
    """Run the checkout benchmark; print the JSON result (``--json``) and a summary."""
    parser = argparse.ArgumentParser(prog="python -m bench checkout")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--shop", default="woocommerce", choices=["shopify", "woocommerce", "shopware"])
    parser.add_argument("--threads", type=int, default=6, help="worker threads of the connector")
    parser.add_argument(
        "--webhook-concurrency",
        type=int,
        default=8,
        help="webhooks the Graph sandbox delivers at once, as Meta does (1: one after the other, each once the "
        "connector answered the previous one: arrivals then spread out and the latency from arrival looks shorter)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from sqlalchemy import select

    from connector.db.models import InboundMessage, OutboundMessage, WebhookEvent
    from connector.db.models_conversation import ChatOrder, ChatReply
    from connector.server import EmbeddedServer
    from connector.sync.catalog import run_sync

    if args.shop == "shopware":
        parser.error("Shopware needs a delivery address before an order: the benchmark measures one-message checkout")
    shop = SandboxProcess(args.shop).start()
    graph = SandboxProcess(
        "graph", options={"mps": 100_000, "pair_limit": 100_000, "webhook_concurrency": args.webhook_concurrency}
    ).start()
    rt, folder = temp_runtime(worker={"threads": args.threads, "poll_interval": 0.05})
    server = EmbeddedServer(rt, port=0, scheduler=False)
    rt.config.server.public_url = server.url
    server.start()
    try:
        shop_row, channel = connect(rt, args.shop, shop, graph)
        run_sync(rt, shop_row.id, mode="full", trigger="bench")
        items = graph.control("GET", f"catalogs/{graph.settings['catalog_id']}/items")["items"]
        in_stock = [i["id"] for i in items if i.get("availability") == "in stock" and int(i.get("inventory") or 0) > 20]
        orders_before = len(shop.control("GET", "orders")["orders"])

        def cart_of(n: int) -> dict[str, Any]:
            picks = [in_stock[(n * 3 + k) % len(in_stock)] for k in range(3)]
            return {
                "wa_id": str(4915200000000 + n),
                "type": "order",
                "name": f"Customer {n}",
                "product_items": [{"product_retailer_id": rid, "quantity": 1} for rid in picks],
            }

        def send(n: int) -> str:
            response = requests.post(f"{graph.url}/_sandbox/whatsapp/messages", json=cart_of(n), timeout=60)
            response.raise_for_status()
            return response.json()["message"]["id"]

        processes = {
            "connector": psutil.Process(),
            "shop": psutil.Process(shop.process.pid),
            "graph": psutil.Process(graph.process.pid),
        }
        cpu_before = {name: _cpu_seconds(p) for name, p in processes.items()}
        sql = _SqlCounter(rt.db.engine)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.customers) as pool:
            wamids = list(pool.map(send, range(args.customers)))

        def finished() -> list[tuple[Any, Any, Any]]:
            with rt.db.session() as session:
                rows = session.execute(
                    select(InboundMessage.id, ChatOrder.updated_at, OutboundMessage.sent_at, InboundMessage.message_id)
                    .join(ChatOrder, ChatOrder.inbound_message_id == InboundMessage.id)
                    .join(ChatReply, (ChatReply.inbound_message_id == InboundMessage.id) & (ChatReply.seq == 0))
                    .join(OutboundMessage, OutboundMessage.id == ChatReply.outbound_message_id)
                    .where(
                        InboundMessage.message_id.in_(wamids),
                        ChatOrder.status == "created",
                        OutboundMessage.sent_at.is_not(None),
                    )
                ).all()
            return rows

        deadline = time.monotonic() + 300
        done = finished()
        while len(done) < len(wamids) and time.monotonic() < deadline:
            time.sleep(0.1)
            done = finished()
        wall = time.perf_counter() - started
        sql.stop()
        cpu_ms = {
            name: round((_cpu_seconds(p) - cpu_before[name]) * 1000 / max(1, len(done)), 1)
            for name, p in processes.items()
        }
        with rt.db.session() as session:
            events = session.execute(
                select(WebhookEvent.received_at, WebhookEvent.body).where(
                    WebhookEvent.connection_kind == "channel", WebhookEvent.connection_id == channel.id
                )
            ).all()
        arrival = {}
        for received_at, body in events:
            for wamid in wamids:
                if wamid.encode() in body:
                    arrival[wamid] = received_at
        latencies = [
            (max(order_at, sent_at) - arrival[wamid]).total_seconds() * 1000
            for _, order_at, sent_at, wamid in done
            if wamid in arrival
        ]
        first_arrival = min(arrival.values())
        last_done = max(max(order_at, sent_at) for _, order_at, sent_at, _ in done)
        span = (last_done - first_arrival).total_seconds()
        # Each delivery is answered only once the connector stored it: how far apart the carts arrive shows how fast
        # the connector takes them in while it works (with one delivery at a time, that alone spreads them out).
        arrival_spread = (max(arrival.values()) - first_arrival).total_seconds()

        # Redeliver every cart webhook, and let every customer tap "send" again.
        url = rt.connections.webhook_url("whatsapp", channel.id)
        with rt.db.session() as session:
            raw = session.execute(
                select(WebhookEvent.headers, WebhookEvent.body).where(
                    WebhookEvent.connection_kind == "channel", WebhookEvent.connection_id == channel.id
                )
            ).all()

        def redeliver(item: tuple[dict[str, str], bytes]) -> int:
            headers = {k: v for k, v in item[0].items() if k.lower().startswith("x-hub") or k.lower() == "content-type"}
            return requests.post(url, data=item[1], headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(redeliver, [r for r in raw if b'"product_items"' in r[1]]))
            taps = list(pool.map(send, range(args.customers)))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with rt.db.session() as session:
                answered = session.scalar(
                    select(ChatReply.id)
                    .join(InboundMessage, InboundMessage.id == ChatReply.inbound_message_id)
                    .where(InboundMessage.message_id == taps[-1])
                )
            if answered:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        orders_after = len(shop.control("GET", "orders")["orders"])
        created = orders_after - orders_before
        result: dict[str, Any] = {
            "shop": args.shop,
            "customers": args.customers,
            "completed": len(latencies),
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p99_ms": round(_percentile(latencies, 0.99), 1) if latencies else None,
            "max_ms": round(max(latencies), 1) if latencies else None,
            "orders_per_second": round(len(done) / span, 1) if span > 0 else None,
            "arrival_spread_ms": round(arrival_spread * 1000, 1),
            "wall_seconds": round(wall, 2),
            "duplicate_orders": max(0, created - args.customers),
            "missing_orders": max(0, args.customers - created),
            "cpu_ms_per_order": {**cpu_ms, "total": round(sum(cpu_ms.values()), 1)},
            # Includes the bench's own polling for finished orders (one statement every 0.1 s).
            "sql_per_order": {
                "transactions": round(sql.transactions / max(1, len(done)), 1),
                "statements": round(sql.statements / max(1, len(done)), 1),
            },
            "worker_threads": args.threads,
            "webhook_concurrency": args.webhook_concurrency,
            "machine": machine(),
        }
        report(
            result,
            args.json,
            [
                f"checkout benchmark, {args.shop} sandbox, {args.customers} concurrent customers, 3-item carts",
                f"  completed:   {len(latencies)} of {args.customers}",
                f"  latency:     p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms",
                f"  throughput:  {result['orders_per_second']} orders/s",
                f"  arrivals:    the cart webhooks reached the connector within {result['arrival_spread_ms']} ms",
                f"  CPU/order:   {result['cpu_ms_per_order']} ms (the connector's includes the bench's own 50 sends)",
                f"  SQL/order:   {result['sql_per_order']}",
                f"  duplicates:  {result['duplicate_orders']} after redelivering every webhook and a double tap each",
            ],
        )
        return 0
    finally:
        server.stop()
        rt.close()
        shop.stop()
        graph.stop()
        folder.cleanup()
