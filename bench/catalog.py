"""Catalog sync benchmark: ``python -m bench catalog --json [--variants 100000] [--shop shopify]``.

A shop sandbox with N generated variants and the Graph sandbox run in their own processes; the
connector syncs into the sandbox catalog from this process, on SQLite. Measured:

* a full sync: seconds, peak RSS of this process, catalog write calls;
* a re-sync with nothing changed (incremental, as the hourly job runs it; and a full reconcile);
* an incremental sync after 1% of the variants changed price or stock.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests

from bench._support import SandboxProcess, fields_for, machine, peak_rss_mb, report, temp_runtime


class _ShopRequests:
    """Counts the HTTP requests the connector sends to one base URL (all threads), to say how many round trips a
    sync took: a figure the machine's load does not change."""

    def __init__(self, base_url: str):
        from connector.http import HttpClient

        self.base_url, self.count, self._lock = base_url, 0, threading.Lock()
        open_: Callable[..., Any] = HttpClient._open

        def counting(client: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if url.startswith(self.base_url):
                with self._lock:
                    self.count += 1
            return open_(client, method, url, *args, **kwargs)

        HttpClient._open = counting  # type: ignore[method-assign]


def _shop_option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    return key, json.loads(value)


def _write_calls(graph: SandboxProcess) -> int:
    stats = graph.control("GET", "stats")
    return sum(c["write_calls"] for c in stats["catalogs"].values())


#: Shopify's GraphQL restore rates per plan (points/s, shopify.md section 6); bucket sizes are UNCONFIRMED
#: (1,000 documented for Standard; the sandbox uses 2,000 from Plus up).
SHOPIFY_PLANS: dict[str, dict[str, Any]] = {
    "standard": {"restore_rate": 100, "bucket_size": 1000},
    "advanced": {"restore_rate": 200, "bucket_size": 1000},
    "plus": {"restore_rate": 1000, "bucket_size": 2000},
    "enterprise": {"restore_rate": 2000, "bucket_size": 2000},
}


def _cost_meter(shop: SandboxProcess) -> dict[str, Any] | None:
    """Shopify's cost meter (points charged, bucket status); other shops have no such limit."""
    return shop.control("GET", "cost") if shop.name == "shopify" else None


def _limit_seconds(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """The least time the shop's rate limit allows for the points the incremental read was charged.

    Shopify refills the bucket at ``restoreRate`` points/s; whatever the bucket held at the start is free, the
    rest has to be waited for: ``max(0, charged - available) / restoreRate``. 0 where the shop has no such limit.
    """
    if before is None or after is None:
        return {"incremental_limit_seconds": 0}
    status = before["throttle_status"]
    charged = after["points"] - before["points"]
    limit = max(0.0, charged - float(status["currentlyAvailable"])) / float(status["restoreRate"])
    return {
        "incremental_limit_seconds": round(limit, 2),
        "incremental_points": charged,
        "incremental_queries": after["queries"] - before["queries"],
        "incremental_throttled": after["throttled"] - before["throttled"],
        "restore_rate": status["restoreRate"],
        "bucket_size": status["maximumAvailable"],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench catalog")
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--shop", default="shopify", choices=["shopify", "woocommerce", "shopware"])
    parser.add_argument(
        "--plan",
        default="standard",
        choices=sorted(SHOPIFY_PLANS),
        help="Shopify plan whose GraphQL rate limit the sandbox applies (default standard: 100 points/s)",
    )
    parser.add_argument(
        "--profile-full",
        metavar="FILE",
        help="write a cProfile of the full sync to FILE, in CPU time of this process (what a loaded machine's "
        "waits do not change)",
    )
    parser.add_argument(
        "--shop-option",
        action="append",
        type=_shop_option,
        default=[],
        metavar="KEY=JSON",
        help="a shop sandbox option, e.g. variations_route=false (WooCommerce before 10.3)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the 1%% incremental sync to FILE (pstats format)"
    )
    args = parser.parse_args(argv)

    from connector.sync.catalog import run_sync

    options = {**(SHOPIFY_PLANS[args.plan] if args.shop == "shopify" else {}), **dict(args.shop_option)}
    shop = SandboxProcess(args.shop, variants=args.variants, options=options).start()
    graph = SandboxProcess("graph").start()
    shop_requests = _ShopRequests(shop.url)
    rt, folder = temp_runtime()
    try:
        shop_cls = rt.plugins.shop_adapters[args.shop]
        channel_cls = rt.plugins.channel_adapters["whatsapp"]
        shop_row = rt.connections.create_shop(
            name="bench", platform=args.shop, settings=fields_for(shop_cls, shop.settings)
        )
        channel_row = rt.connections.create_channel(
            shop_connection_id=shop_row.id,
            name="bench",
            channel="whatsapp",
            settings=fields_for(channel_cls, graph.settings),
        )
        del channel_row

        shop_cpu, cpu, requests_before = shop.cpu_seconds(), time.process_time(), shop_requests.count
        full_profiler = cProfile.Profile(time.process_time) if args.profile_full else None
        started = time.perf_counter()
        if full_profiler is not None:
            full_profiler.enable()
        full = run_sync(rt, shop_row.id, mode="full", trigger="bench")
        full_seconds = time.perf_counter() - started
        if full_profiler is not None:
            full_profiler.disable()
            full_profiler.dump_stats(args.profile_full)
        full_cpu, full_shop_cpu = time.process_time() - cpu, shop.cpu_seconds() - shop_cpu
        full_requests = shop_requests.count - requests_before
        full_rss = peak_rss_mb()
        full_calls = _write_calls(graph)

        calls = _write_calls(graph)
        started = time.perf_counter()
        noop = run_sync(rt, shop_row.id, mode="delta", trigger="bench")
        noop_seconds = time.perf_counter() - started
        noop_calls = _write_calls(graph) - calls

        calls = _write_calls(graph)
        started = time.perf_counter()
        noop_full = run_sync(rt, shop_row.id, mode="full", trigger="bench")
        noop_full_seconds = time.perf_counter() - started
        noop_full_calls = _write_calls(graph) - calls

        # Change 1% of the variants in the shop: half price changes, half stock changes.
        ids = shop.control("GET", "variants")["ids"]
        changed = ids[:: max(1, len(ids) // max(1, len(ids) // 100))][: len(ids) // 100]
        session = requests.Session()
        for i, variant_id in enumerate(changed):
            if i % 2:
                session.post(
                    f"{shop.url}/_sandbox/stock", json={"variant_id": variant_id, "quantity": 1000 + i}, timeout=30
                ).raise_for_status()
            else:
                session.post(
                    f"{shop.url}/_sandbox/price",
                    json={"variant_id": variant_id, "price": str(Decimal("7.77")), "sale_price": None},
                    timeout=30,
                ).raise_for_status()
        time.sleep(1.1)  # shop clocks have one-second resolution; the change must be after the last cursor
        calls = _write_calls(graph)
        meter_before = _cost_meter(shop)
        profiler = cProfile.Profile() if args.profile else None
        shop_cpu, requests_before = shop.cpu_seconds(), shop_requests.count
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        incremental = run_sync(rt, shop_row.id, mode="delta", trigger="bench")
        incremental_seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        incremental_shop_cpu = shop.cpu_seconds() - shop_cpu
        incremental_requests = shop_requests.count - requests_before
        limit = _limit_seconds(meter_before, _cost_meter(shop))
        incremental_calls = _write_calls(graph) - calls

        result: dict[str, Any] = {
            "shop": args.shop,
            **({"plan": args.plan} if args.shop == "shopify" else {}),
            **({"shop_options": dict(args.shop_option)} if args.shop_option else {}),
            "variants": full.read,
            "full_seconds": round(full_seconds, 2),
            "full_peak_rss_mb": full_rss,
            "full_write_calls": full_calls,
            "full_created": full.created,
            "full_shop_requests": full_requests,
            "full_cpu_seconds": round(full_cpu, 2),
            "full_shop_cpu_seconds": round(full_shop_cpu, 2),
            "noop_seconds": round(noop_seconds, 2),
            "noop_write_calls": noop_calls,
            "noop_full_seconds": round(noop_full_seconds, 2),
            "noop_full_write_calls": noop_full_calls,
            "incremental_changed": incremental.updated + incremental.created,
            "incremental_seconds": round(incremental_seconds, 2),
            "incremental_write_calls": incremental_calls,
            "incremental_shop_cpu_seconds": round(incremental_shop_cpu, 2),
            "incremental_shop_requests": incremental_requests,
            **limit,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "machine": machine(),
        }
        report(
            result,
            args.json,
            [
                f"catalog benchmark, {args.shop} sandbox, {full.read} variants",
                f"  full sync:        {full_seconds:7.2f} s, peak RSS {full_rss} MB, {full_calls} write calls ({full.created} items)",
                f"  re-sync (delta):  {noop_seconds:7.2f} s, {noop_calls} write calls ({noop.changed} changed)",
                f"  re-sync (full):   {noop_full_seconds:7.2f} s, {noop_full_calls} write calls ({noop_full.changed} changed)",
                f"  1% changed:       {incremental_seconds:7.2f} s, {incremental_calls} write calls "
                f"({incremental.updated} updated of {len(changed)} changed in the shop; "
                f"rate limit allows {limit['incremental_limit_seconds']} s at best)",
            ],
        )
        return 0
    finally:
        rt.close()
        folder.cleanup()
        shop.stop()
        graph.stop()
