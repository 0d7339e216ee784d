"""A sync killed mid-way (SIGKILL of a real process) resumes on the next run: finished batches are not pushed
again, and no change is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

from connector.config import load_config
from connector.db.migrate import upgrade
from connector.plugins import Plugins
from connector.runtime import Runtime
from connector.sandbox.seed import iter_products
from connector.sync.catalog import run_sync
from tests.conftest import wait_for


def test_sync_killed_mid_push_resumes_without_repushing_or_losing(tmp_path: Path, plugins: Plugins) -> None:
    sandboxes = plugins.sandboxes()
    shop = sandboxes["woocommerce"](products=list(iter_products(n_variants=2000)))
    graph = sandboxes["graph"]()
    shop.start()
    graph.start()
    config_file = tmp_path / "connector.toml"
    config_file.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n'
        f'[security]\nencryption_keys = ["{Fernet.generate_key().decode()}"]\n'
        "[sync]\nbatch_size = 100\n"
    )
    rt = Runtime(load_config(config_file), plugins=plugins)
    upgrade(rt.db)
    try:
        shop_cls, channel_cls = rt.plugins.shop_adapters["woocommerce"], rt.plugins.channel_adapters["whatsapp"]
        names = {f.name for f in shop_cls.config_fields}
        shop_row = rt.connections.create_shop(
            name="s",
            platform="woocommerce",
            settings={k: v for k, v in shop.connection_settings().items() if k in names},
        )
        names = {f.name for f in channel_cls.config_fields}
        rt.connections.create_channel(
            shop_connection_id=shop_row.id,
            name="c",
            channel="whatsapp",
            settings={k: v for k, v in graph.connection_settings().items() if k in names},
        )
        catalog_id = graph.connection_settings()["catalog_id"]

        def write_calls() -> int:
            return graph.stats()["catalogs"][catalog_id]["write_calls"]

        process = subprocess.Popen(
            [sys.executable, "-m", "connector", "--config", str(config_file), "sync", "--full", "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: write_calls() >= 5, timeout=60, interval=0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        at_kill = write_calls()
        assert at_kill < 20, "the sync finished before it could be killed"

        # While nothing runs, the shop changes: that change must not be lost.
        changed = shop.variant_ids()[-1]
        shop.set_stock(changed, 4242)
        time.sleep(0.2)

        summary = run_sync(
            rt, shop_row.id, mode="full", trigger="manual"
        )  # the lease of the dead process is taken over
        assert summary.status == "succeeded"
        total_batches = 20  # 2,000 variants in batches of 100
        # Finished batches were not pushed again: at most the one in flight at the kill is repeated.
        assert write_calls() <= total_batches + 1
        assert summary.write_calls <= total_batches - at_kill + 1

        items = {item["id"]: item for item in graph.catalog_items(catalog_id)}
        published = {v.external_id for v in rt.connections.shop_adapter(shop_row.id).iter_variants() if v.published}
        assert set(items) == published
        assert items[changed]["inventory"] == 4242
        with rt.db.session() as session:
            from sqlalchemy import select

            from connector.db.models import SyncRun

            statuses = [r.status for r in session.scalars(select(SyncRun).order_by(SyncRun.id))]
        assert statuses == ["interrupted", "succeeded"]
    finally:
        rt.close()
        shop.stop()
        graph.stop()
