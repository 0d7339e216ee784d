"""``connector demo``: the whole product on one machine, against sandboxes, with nothing to configure.

It starts a shop sandbox (WooCommerce by default) and the Meta Graph sandbox (catalog + WhatsApp) on
local ports, a connector on embedded SQLite, creates the connections, subscribes the webhooks, runs
the first full sync, and then keeps running (worker, scheduler, web app) until Ctrl-C. With
``--once`` it checks the sandbox catalog against the shop over both sandboxes' own APIs, prints one
JSON object and exits 0 only if they match.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector import model
from connector.config import generate_secrets, load_config
from connector.db.migrate import upgrade
from connector.plugins import Plugins
from connector.runtime import Runtime
from connector.server import EmbeddedServer
from connector.sync.catalog import run_sync

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
GRAPH_SANDBOX = "graph"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _money(text: Any) -> model.Money | None:
    if not text:
        return None
    if isinstance(text, model.Money):
        return text
    amount, currency = str(text).rsplit(" ", 1)
    return model.Money(Decimal(amount), currency)


def compare_catalog(rt: Runtime, shop_id: int, channel_id: int) -> dict[str, Any]:
    """Read the shop and the channel catalog over their APIs and compare price, stock and availability."""
    shop = rt.connections.shop_adapter(shop_id)
    publisher = rt.connections.channel_adapter(channel_id).catalog()
    assert publisher is not None
    expected = {}
    for variant in shop.iter_variants():
        if variant.published:
            expected[variant.external_id] = publisher.item_fields(variant)
    actual = {item.retailer_id: item for item in publisher.iter_items()}
    mismatches = []
    for retailer_id, fields in expected.items():
        item = actual.get(retailer_id)
        if item is None:
            mismatches.append({"retailer_id": retailer_id, "problem": "missing from the catalog"})
            continue
        wanted = {
            "price": _money(fields.get("price")),
            "sale_price": _money(fields.get("sale_price")),
            "availability": fields.get("availability"),
            "inventory": fields.get("inventory"),
        }
        got = {
            "price": item.price,
            "sale_price": item.sale_price,
            "availability": item.availability.value if item.availability else None,
            "inventory": item.inventory,
        }
        for key, value in wanted.items():
            if value is not None and got[key] != value:
                mismatches.append(
                    {"retailer_id": retailer_id, "field": key, "shop": str(value), "catalog": str(got[key])}
                )
    extra = sorted(set(actual) - set(expected))
    return {
        "shop_variants": len(expected),
        "catalog_items": len(actual),
        "mismatches": mismatches[:20],
        "mismatch_count": len(mismatches),
        "unexpected_items": extra[:20],
        "match": not mismatches and not extra and len(expected) == len(actual),
    }


def run_demo(*, shop: str = "woocommerce", once: bool = False, port: int = 8080, data_dir: Path | None = None) -> int:
    """Start everything; return the process exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    plugins = Plugins()
    sandboxes = plugins.sandboxes()
    if shop not in sandboxes or sandboxes[shop].kind != "shop":
        shops = sorted(name for name, cls in sandboxes.items() if cls.kind == "shop")
        _say(f"no shop sandbox named {shop!r}; choose one of: {', '.join(shops)}")
        return 2
    started = time.monotonic()
    temp = tempfile.TemporaryDirectory(prefix="connector-demo-") if once else None
    folder = Path(temp.name) if temp else (data_dir or Path("demo-data"))
    folder.mkdir(parents=True, exist_ok=True)
    # The platforms' own sandbox classes (plugins): the demo uses their extra methods (subscribe_webhooks, variant_ids).
    shop_sandbox: Any = sandboxes[shop]()
    graph: Any = sandboxes[GRAPH_SANDBOX]()
    shop_sandbox.start()
    graph.start()
    secrets = generate_secrets()
    config = load_config(
        overrides={
            "database": {"url": f"sqlite:///{(folder / 'demo.db').resolve()}"},
            "security": {"secret_key": secrets["secret_key"], "encryption_keys": [secrets["encryption_key"]]},
            "server": {"host": "127.0.0.1", "port": 0 if once else port, "demo": True},
        }
    )
    rt = Runtime(config, plugins=plugins)
    upgrade(rt.db)
    server = EmbeddedServer(rt, scheduler=not once)
    # Webhook URLs must name the port the OS actually gave us.
    rt.config.server.public_url = server.url
    server.start()
    # One pair of sandboxes: the setup wizard's "try with a sandbox" connects these (the ones the curl lines below
    # change), instead of starting a second pair.
    from connector.dashboard.wizard import demo_sandboxes

    shared = demo_sandboxes(server.app)
    shared.adopt(shop, shop_sandbox)
    shared.adopt(GRAPH_SANDBOX, graph)
    try:
        shop_conn = rt.connections.create_shop(
            name=f"Demo shop ({shop})",
            platform=shop,
            settings=_fields_for(rt.plugins.shop_adapters[shop], shop_sandbox.connection_settings()),
        )
        channel_cls = rt.plugins.channel_adapters[CHANNEL]
        channel_conn = rt.connections.create_channel(
            shop_connection_id=shop_conn.id,
            name="Demo WhatsApp number",
            channel=CHANNEL,
            settings=_fields_for(channel_cls, graph.connection_settings()),
        )
        _subscribe(rt, shop_sandbox, shop, shop_conn.id)
        # Meta checks a webhook URL with the hub.challenge handshake before it subscribes it; so does the sandbox.
        graph.subscribe_webhooks(
            rt.connections.webhook_url(CHANNEL, channel_conn.id),
            object="whatsapp_business_account",
            verify_token=graph.connection_settings()["verify_token"],
        )
        _say(f"Shop sandbox ({shop}): {shop_sandbox.url}")
        _say(f"WhatsApp/Graph sandbox: {graph.url}")
        _say(f"Connector: {server.url}  (admin API {server.url}/api/v1, health {server.url}/healthz)")
        if not once:
            import secrets as _secrets

            from connector.dashboard.users import create_user

            password = _secrets.token_urlsafe(9)
            create_user(rt, "demo@example.com", password)
            _say(f"Dashboard: {server.url}/dashboard  (log in as demo@example.com / {password})")
            _say(f"Chat simulator: {server.url}/dashboard/simulator  (be the customer on WhatsApp or Instagram)")
        _say("Syncing the demo catalog into the sandbox WhatsApp catalog...")
        summary = run_sync(rt, shop_conn.id, mode="full", trigger="demo")
        _say(
            f"Synced in {summary.duration_seconds:.1f}s: {summary.created} created, {summary.updated} updated, "
            f"{summary.deleted} deleted, {summary.failed} failed, {summary.write_calls} catalog calls."
        )
        if once:
            report = compare_catalog(rt, shop_conn.id, channel_conn.id)
            report.update(shop=shop, seconds=round(time.monotonic() - started, 2), sync=summary.status)
            print(json.dumps(report), flush=True)
            return 0 if report["match"] else 1
        _say("")
        _say("The connector is running. Try:")
        _say(
            f"  change stock:   curl -X POST {shop_sandbox.url}/_sandbox/stock -H 'Content-Type: application/json' "
            f'-d \'{{"variant_id": "{shop_sandbox.variant_ids()[0]}", "quantity": 0}}\''
        )
        _say(f"  see the catalog: curl {graph.url}/_sandbox/catalogs/{graph.connection_settings()['catalog_id']}/items")
        _say("Press Ctrl-C to stop.")
        stop = threading.Event()
        try:
            stop.wait()
        except KeyboardInterrupt:
            _say("stopping")
        return 0
    finally:
        server.stop()
        shop_sandbox.stop()
        graph.stop()
        rt.close()
        if temp is not None:
            temp.cleanup()


def _fields_for(adapter_cls: Any, offered: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's settings that this adapter declares (sandboxes offer a superset)."""
    names = {f.name for f in adapter_cls.config_fields}
    return {k: v for k, v in offered.items() if k in names}


def _subscribe(rt: Runtime, sandbox: Any, adapter_name: str, shop_id: int) -> None:
    """Register the shop's webhooks through its own API when the plugin can, else through the sandbox."""
    url = rt.connections.webhook_url(adapter_name, shop_id)
    try:
        rt.connections.shop_adapter(shop_id).register_webhooks(url)
    except NotImplementedError:
        sandbox.subscribe_webhooks(url)
