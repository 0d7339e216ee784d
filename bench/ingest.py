"""``python -m bench ingest``: webhook ingest, next to a Flask hello-world served the same way in the same run.

Ingest is what the connector does before it answers a webhook: verify the signature, store the delivery durably
(and apply a status-only WhatsApp delivery's statuses in the same transaction), answer 200. Processing happens
later in a worker, which is not running here: the figure is the web side alone.

The deliveries are a third each of the platforms' own kinds, taken from real deliveries of the sandboxes (the
Shopify sandbox's ``products/update`` for a stock change; the Graph sandbox's WhatsApp message and status
webhooks), each made unique and signed again the platform's way: a new ``X-Shopify-Webhook-Id`` (the HMAC covers
the body only), a new message id or status target in the WhatsApp body and its ``X-Hub-Signature-256`` with the
app secret. The statuses are for messages the connector sent (rows stored beforehand), as during a fan-out.

A load generator in its own process (:mod:`bench._loadgen`, ``--concurrency`` keep-alive connections) sends every
delivery once to each server:

* ``embedded``: ``connector serve``'s server (waitress, :class:`connector.server.EmbeddedServer`) on SQLite, and
  the hello-world on waitress with the same thread count;
* ``gunicorn``: ``connector web`` (gunicorn gthread, the connector's default processes and threads) on
  PostgreSQL (``connector web`` refuses SQLite), and the hello-world on gunicorn with the same settings.

Then the stored rows are counted: ``lost`` (answered 200 but not stored) and ``duplicated`` (stored more than once)
must be 0. Each server's CPU per request is measured too (its processes' user + system time over the answered
requests): ``cpu_ratio_to_hello_world`` is the hello-world's CPU per request over the connector's, the figure a
loaded machine moves least. The JSON's top-level figures are the first server's; ``runs`` has every server's.
``--profile FILE`` writes the embedded server's per-thread CPU profile (pstats).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import requests

from bench._loadgen import http_request, write_requests
from bench._support import SandboxProcess, ThreadProfiles, fields_for, machine, report, temp_runtime

POSTGRES_ADMIN = os.environ.get("CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Template:
    """One real delivery: its body and the headers the connector received (the signature among them)."""

    kind: str  # "message", "status" or "product"
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Delivery:
    kind: str
    body: bytes
    headers: dict[str, str]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else 0.0


def _connect(rt: Any, shop: SandboxProcess, graph: SandboxProcess) -> tuple[int, int]:
    """A Shopify connection and a WhatsApp connection to the sandboxes; their ids."""
    shop_row = rt.connections.create_shop(
        name="ingest", platform="shopify", settings=fields_for(rt.plugins.shop_adapters["shopify"], shop.settings)
    )
    channel = rt.connections.create_channel(
        shop_connection_id=shop_row.id,
        name="ingest",
        channel="whatsapp",
        settings=fields_for(rt.plugins.channel_adapters["whatsapp"], graph.settings),
    )
    return shop_row.id, channel.id


def _capture(rt: Any, shop: SandboxProcess, graph: SandboxProcess) -> dict[str, Template]:
    """Real deliveries of each kind, through a connector with its worker (the status webhooks follow its reply)."""
    from sqlalchemy import select

    from connector import model
    from connector.chat.messages import queue_message
    from connector.db.models import WebhookEvent
    from connector.server import EmbeddedServer

    server = EmbeddedServer(rt, port=0, scheduler=False)
    rt.config.server.public_url = server.url
    server.start()
    try:
        shop_id, channel_id = _connect(rt, shop, graph)
        rt.connections.shop_adapter(shop_id).register_webhooks(rt.connections.webhook_url("shopify", shop_id))
        graph.control(
            "POST",
            "webhooks",
            json={
                "url": rt.connections.webhook_url("whatsapp", channel_id),
                "object": "whatsapp_business_account",
                "verify_token": graph.settings["verify_token"],
            },
        )
        variant = shop.control("GET", "variants")["ids"][0]
        shop.control("POST", "stock", json={"variant_id": variant, "quantity": 7})
        customer = "4915200000001"
        graph.control("POST", "whatsapp/messages", json={"wa_id": customer, "type": "text", "text": "Hallo"})
        with rt.db.session() as session:  # a message to the customer, whose statuses come back as webhooks
            queue_message(rt, channel_connection_id=channel_id, recipient=customer, kind="bench",
                          message=model.TextMessage(body="Hello"), idempotency_key="bench-ingest", session=session)  # fmt: skip
        rt.queue.notify()
        found: dict[str, Template] = {}
        deadline = time.monotonic() + 300
        while len(found) < 3:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no real delivery of every kind within 300 s: got {sorted(found)}")
            time.sleep(0.2)
            with rt.db.session() as session:
                events = session.execute(
                    select(WebhookEvent.connection_kind, WebhookEvent.topic, WebhookEvent.body, WebhookEvent.headers)
                ).all()
            for connection_kind, topic, body, headers in events:
                kept = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
                if connection_kind == "shop":
                    if topic == "products/update":
                        found.setdefault("product", Template("product", body, kept))
                    continue
                value = json.loads(body)["entry"][0]["changes"][0]["value"]
                if "statuses" in value:
                    found.setdefault("status", Template("status", body, kept))
                elif "messages" in value:
                    found.setdefault("message", Template("message", body, kept))
        return found
    finally:
        server.stop()


def _wamid(n: int, run: str) -> str:
    return "wamid." + base64.b64encode(f"bench-ingest-{run}-{n}".encode()).decode().rstrip("=")


def _deliveries(
    templates: dict[str, Template], count: int, app_secret: str, run: str
) -> tuple[list[Delivery], list[str]]:
    """``count`` unique signed deliveries, the kinds in turn; and the message ids the status deliveries are for."""
    now = int(time.time())
    triggered = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    message = json.loads(templates["message"].body)
    status = json.loads(templates["status"].body)
    product = templates["product"]
    out: list[Delivery] = []
    sent: list[str] = []
    kinds = ("message", "status", "product")
    for n in range(count):
        kind = kinds[n % 3]
        if kind == "product":
            headers = {
                **product.headers,
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Event-Id": str(uuid.uuid4()),
                "X-Shopify-Triggered-At": triggered,
            }
            out.append(Delivery(kind, product.body, headers))
            continue
        if kind == "message":
            value = message["entry"][0]["changes"][0]["value"]
            value["messages"][0].update(id=_wamid(n, run), timestamp=str(now))
            body = json.dumps(message, separators=(",", ":")).encode()
        else:
            value = status["entry"][0]["changes"][0]["value"]
            first = value["statuses"][0]
            wamid = _wamid(n, run)
            sent.append(wamid)
            value["statuses"] = [{**first, "id": wamid, "status": "delivered", "timestamp": str(now)}]
            body = json.dumps(status, separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {**templates[kind].headers, "X-Hub-Signature-256": signature}
        out.append(Delivery(kind, body, headers))
    return out, sent


def _store_sent_messages(rt: Any, channel_id: int, recipient: str, wamids: list[str]) -> None:
    """The outbox rows of messages the connector sent, which the status deliveries are about."""
    from sqlalchemy import insert

    from connector.db.models import OutboundMessage

    now = datetime.now(UTC)
    rows = [
        {
            "channel_connection_id": channel_id,
            "recipient": recipient,
            "kind": "bench",
            "payload": {"type": "text", "body": "bench"},
            "idempotency_key": f"bench-ingest:{wamid}",
            "status": "sent",
            "channel_message_id": wamid,
            "attempts": 1,
            "created_at": now,
            "sent_at": now,
            "updated_at": now,
        }
        for wamid in wamids
    ]
    with rt.db.session() as session:
        for start in range(0, len(rows), 1000):
            session.execute(insert(OutboundMessage.__table__), rows[start : start + 1000])


def _raw(deliveries: list[Delivery], paths: dict[str, str], host: str) -> list[bytes]:
    return [http_request("POST", paths[d.kind], host, d.headers, d.body) for d in deliveries]


def _load(requests_: list[bytes], port: int, concurrency: int, folder: Path) -> dict[str, Any]:
    """Run the load generator in its own process; its result."""
    source, result = folder / "requests.bin", folder / "result.json"
    write_requests(source, requests_)
    subprocess.run(
        [sys.executable, "-m", "bench._loadgen", str(source), str(result), "127.0.0.1", str(port), str(concurrency)],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return dict(json.loads(result.read_text()))


def _rates(load: dict[str, Any]) -> tuple[int, float, float]:
    """(answered 200, per second, p99 ms of the 200s)."""
    ok = [lat for status, lat in zip(load["statuses"], load["latencies_ms"], strict=True) if status == 200]
    return len(ok), round(len(ok) / load["seconds"], 1), round(_percentile(ok, 0.99), 1)


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _count_stored(rt: Any, after_id: int) -> tuple[int, int]:
    """(rows stored after ``after_id``, deliveries counted as duplicates among them)."""
    from sqlalchemy import func, select

    from connector.db.models import WebhookEvent

    with rt.db.session() as session:
        rows, duplicates = session.execute(
            select(func.count(), func.coalesce(func.sum(WebhookEvent.duplicates), 0)).where(WebhookEvent.id > after_id)
        ).one()
    return int(rows), int(duplicates)


def _last_event_id(rt: Any) -> int:
    from sqlalchemy import func, select

    from connector.db.models import WebhookEvent

    with rt.db.session() as session:
        return int(session.scalar(select(func.coalesce(func.max(WebhookEvent.id), 0))) or 0)


def _measure(
    name: str,
    rt: Any,
    deliveries: list[Delivery],
    ids: tuple[int, int],
    connector_port: int,
    connector_pids: list[int],
    hello_port: int,
    hello_pids: list[int],
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, Any]:
    """Hello-world first, then the connector, with the same requests; the figures of one server."""
    host = "127.0.0.1"
    hello_cpu_before = _cpu(hello_pids)
    hello_load = _load(_raw(deliveries, dict.fromkeys(("message", "status", "product"), "/"), host), hello_port,
                       args.concurrency, folder)  # fmt: skip
    hello_cpu = _cpu(hello_pids) - hello_cpu_before
    hello_ok, hello_rate, hello_p99 = _rates(hello_load)
    shop_id, channel_id = ids
    paths = {
        "message": f"/webhooks/whatsapp/{channel_id}",
        "status": f"/webhooks/whatsapp/{channel_id}",
        "product": f"/webhooks/shopify/{shop_id}",
    }
    before = _last_event_id(rt)
    cpu_before = _cpu(connector_pids)
    load = _load(_raw(deliveries, paths, host), connector_port, args.concurrency, folder)
    cpu = _cpu(connector_pids) - cpu_before
    ok, rate, p99 = _rates(load)
    stored, duplicates = _count_stored(rt, before)
    by_kind: dict[str, dict[str, int]] = {}
    for delivery, status in zip(deliveries, load["statuses"], strict=True):
        counts = by_kind.setdefault(delivery.kind, {})
        counts[str(status)] = counts.get(str(status), 0) + 1
    return {
        "server": name,
        "deliveries": len(deliveries),
        "answered_200": ok,
        "deliveries_per_second": rate,
        "p99_ms": p99,
        "p50_ms": round(_percentile([x for x in load["latencies_ms"] if x], 0.5), 1),
        "hello_world_per_second": hello_rate,
        "hello_world_p99_ms": hello_p99,
        "hello_world_answered_200": hello_ok,
        "ratio_to_hello_world": round(rate / hello_rate, 3) if hello_rate else None,
        "lost": max(0, ok - stored),
        "duplicated": duplicates + max(0, stored - len(deliveries)),
        "stored": stored,
        "server_cpu_ms_per_delivery": round(cpu * 1000 / max(1, ok), 3),
        "hello_world_cpu_ms_per_request": round(hello_cpu * 1000 / max(1, hello_ok), 3),
        # The same ratio in CPU per request: what the throughput ratio comes to when the server has the cores to
        # itself (robust to the other load on a shared machine, which the throughput figures are not).
        "cpu_ratio_to_hello_world": round(hello_cpu / hello_ok / (cpu / ok), 3) if hello_ok and ok and cpu else None,
        "statuses_by_kind": by_kind,
        "errors": load["bodies"][:5],
        "seconds": round(load["seconds"], 2),
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes] | None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode})")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _embedded(args: argparse.Namespace, rt: Any, templates: dict[str, Template], graph: SandboxProcess,
              folder: Path) -> dict[str, Any]:  # fmt: skip
    """``connector serve``'s server (waitress) on SQLite, without its worker, against a hello-world on waitress."""
    from waitress import create_server

    import bench._hello
    from connector.fdlimit import connection_limit, raise_nofile_limit
    from connector.listener import QuietChannel
    from connector.server import HTTP_THREADS, EmbeddedServer

    shop = _shop_id(rt)
    channel = _channel_id(rt)
    deliveries, sent = _deliveries(templates, args.deliveries, graph.settings["app_secret"], uuid.uuid4().hex[:8])
    _store_sent_messages(rt, channel, _status_recipient(templates), sent)
    limit = connection_limit(raise_nofile_limit(), rt.config.server.connection_limit)
    hello = create_server(bench._hello.app, host="127.0.0.1", port=0, threads=HTTP_THREADS, asyncore_use_poll=True,
                          connection_limit=limit, ident="hello")  # fmt: skip
    hello.channel_class = QuietChannel  # the same server as the connector's
    hello_thread = threading.Thread(target=hello.run, daemon=True)
    hello_thread.start()
    # Started after the hello-world's threads, so the profile is the connector's server alone.
    profiles = ThreadProfiles(cpu=True) if args.profile else None
    server = EmbeddedServer(rt, port=0, scheduler=False, worker=False)
    server.start()
    try:
        return _measure(f"embedded (waitress, {HTTP_THREADS} threads), SQLite", rt, deliveries, (shop, channel),
                        int(server.http.effective_port), [os.getpid()], int(hello.effective_port), [os.getpid()],
                        args, folder)  # fmt: skip
    finally:
        server.stop()
        hello.close()
        if profiles is not None:
            profiles.dump(args.profile)


def _status_recipient(templates: dict[str, Template]) -> str:
    status = json.loads(templates["status"].body)
    return str(status["entry"][0]["changes"][0]["value"]["statuses"][0]["recipient_id"])


def _shop_id(rt: Any) -> int:
    from sqlalchemy import select

    from connector.db.models import ShopConnection

    with rt.db.session() as session:
        return int(session.scalars(select(ShopConnection.id).order_by(ShopConnection.id)).first() or 0)


def _channel_id(rt: Any) -> int:
    from sqlalchemy import select

    from connector.db.models import ChannelConnection

    with rt.db.session() as session:
        return int(session.scalars(select(ChannelConnection.id).order_by(ChannelConnection.id)).first() or 0)


def _gunicorn(args: argparse.Namespace, templates: dict[str, Template], shop: SandboxProcess,
              graph: SandboxProcess, folder: Path) -> dict[str, Any]:  # fmt: skip
    """``connector web`` (gunicorn) on PostgreSQL against a hello-world on gunicorn with the same settings."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from bench._cluster import CONNECTOR, write_config
    from connector.config import load_config
    from connector.db.migrate import upgrade
    from connector.runtime import Runtime

    name = f"connector_ingest_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    port, hello_port = _free_port(), _free_port()
    config = write_config(folder / "connector.toml", url, public_url=f"http://127.0.0.1:{port}")
    rt = Runtime(load_config(config))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(rt.db)
        shop_id, channel_id = _connect(rt, shop, graph)
        deliveries, sent = _deliveries(templates, args.deliveries, graph.settings["app_secret"], uuid.uuid4().hex[:8])
        _store_sent_messages(rt, channel_id, _status_recipient(templates), sent)
        workers, threads = rt.config.cluster.web_workers, rt.config.cluster.web_threads
        log = open(folder / "web.log", "wb")  # noqa: SIM115 - closed with the process
        web = subprocess.Popen([CONNECTOR, "--config", str(config), "web", "--bind", f"127.0.0.1:{port}"],
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        processes.append(web)
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        hello = subprocess.Popen(
            [gunicorn, "-k", "gthread", "-w", str(workers), "--threads", str(threads), "-b", f"127.0.0.1:{hello_port}",
             "--log-level", "warning", "bench._hello:app"],
            cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
        processes.append(hello)
        _wait_http(f"http://127.0.0.1:{port}/healthz", web)
        _wait_http(f"http://127.0.0.1:{hello_port}/", hello)
        return _measure(f"connector web (gunicorn gthread, {workers} processes x {threads} threads), PostgreSQL", rt,
                        deliveries, (shop_id, channel_id), port, [web.pid], hello_port, [hello.pid], args,
                        folder)  # fmt: skip
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        rt.close()
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main(argv: list[str]) -> int:
    """Run the ingest benchmark; print the JSON result (``--json``) and a summary."""
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument("--deliveries", type=int, default=15_000, help="deliveries per server (a third of each kind)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections of the load generator")
    parser.add_argument("--servers", default="embedded,gunicorn", help="embedded, gunicorn or both (comma-separated)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile", metavar="FILE", help="profile the embedded server's threads (their CPU time), write pstats to FILE"
    )
    args = parser.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]

    shop = SandboxProcess("shopify", variants=20).start()
    graph = SandboxProcess("graph", options={"mps": 100_000, "pair_limit": 100_000}).start()
    rt, folder = temp_runtime(worker={"threads": 2, "poll_interval": 0.05})
    runs: list[dict[str, Any]] = []
    try:
        templates = _capture(rt, shop, graph)
        with tempfile.TemporaryDirectory(prefix="connector-ingest-") as scratch:
            for server in servers:
                if server == "embedded":
                    runs.append(_embedded(args, rt, templates, graph, Path(scratch)))
                elif server == "gunicorn":
                    runs.append(_gunicorn(args, templates, shop, graph, Path(scratch)))
                else:
                    parser.error(f"unknown server {server!r}")
    finally:
        rt.close()
        shop.stop()
        graph.stop()
        folder.cleanup()
    keys = ("deliveries_per_second", "p99_ms", "hello_world_per_second", "ratio_to_hello_world",
            "cpu_ratio_to_hello_world", "server_cpu_ms_per_delivery", "lost", "duplicated", "server")  # fmt: skip
    result: dict[str, Any] = {
        **{key: runs[0][key] for key in keys},
        "concurrency": args.concurrency,
        "deliveries": args.deliveries,
        "runs": runs,
        "load_average": os.getloadavg(),
        "machine": machine(),
    }
    lines = [f"webhook ingest, {args.deliveries} signed deliveries per server at concurrency {args.concurrency}"]
    for run in runs:
        lines.append(
            f"  {run['server']}: {run['deliveries_per_second']}/s, p99 {run['p99_ms']} ms; hello-world "
            f"{run['hello_world_per_second']}/s (ratio {run['ratio_to_hello_world']}); lost {run['lost']}, "
            f"duplicated {run['duplicated']}, CPU {run['server_cpu_ms_per_delivery']} ms/delivery against "
            f"{run['hello_world_cpu_ms_per_request']} ms/request (ratio {run['cpu_ratio_to_hello_world']})"
        )
    report(result, args.json, lines)
    return 0
