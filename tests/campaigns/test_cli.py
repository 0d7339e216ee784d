"""``connector campaigns ...`` as a real process: segments create/list/preview, campaigns
create/start/pause/resume/cancel/status, earned."""

from __future__ import annotations

import json
from pathlib import Path

from connector.config import load_config
from connector.db.models import CatalogItem, ShopVariant
from connector.notify.consent import record_opt_in
from connector.notify.contacts import contact_for_phone
from connector.runtime import Runtime
from tests.test_cli import connector


def _contacts(folder: Path) -> None:
    rt = Runtime(load_config(folder / "connector.toml"))
    try:
        with rt.db.session() as session:
            for phone, consent in (("4915100000101", True), ("4915100000102", True), ("4915100000103", False)):
                contact = contact_for_phone(session, 1, phone, name="Erika Muster")
                assert contact is not None
                if consent:
                    record_opt_in(
                        rt, contact_id=contact.id, purpose="marketing", source="test", text="Offers", session=session
                    )
    finally:
        rt.close()


def test_segments_and_campaigns_from_the_command_line(tmp_path: Path) -> None:
    assert connector("init", cwd=tmp_path).returncode == 0
    shop = connector(
        "connections", "add", "shop", "woocommerce", "--no-test", "--set", "shop_url=https://shop.example",
        "--set", "consumer_key=ck", "--set", "consumer_secret=cs", "--set", "webhook_secret=w", cwd=tmp_path,
    )  # fmt: skip
    assert shop.returncode == 0, shop.stderr
    channel = connector(
        "connections", "add", "channel", "whatsapp", "--shop", "1", "--no-test", "--set", "phone_number_id=1",
        "--set", "access_token=t", "--set", "app_secret=s", "--set", "verify_token=v", cwd=tmp_path,
    )  # fmt: skip
    assert channel.returncode == 0, channel.stderr + channel.stdout
    _contacts(tmp_path)

    made = connector("campaigns", "segments", "create", "Germans", "--filters", '{"country": ["DE"]}', cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["filters"] == {"country": ["DE"]}
    wrong = connector("campaigns", "segments", "create", "x", "--filters", '{"contry": ["DE"]}', cwd=tmp_path)
    assert wrong.returncode == 2 and "contry" in wrong.stderr
    preview = json.loads(connector("campaigns", "segments", "preview", "1", cwd=tmp_path).stdout)
    assert preview["matching"] == 3 and preview["eligible"] == 2 and preview["excluded"] == {"no consent": 1}
    assert preview["cost"]["by_country"] == [{"country": "DE", "messages": 2, "rate": 0.1365, "cost": 0.273}]

    created = connector(
        "campaigns", "create", "--segment", "1", "--channel", "1", "--template", "winter_sale", "--language", "en_US",
        "--param", "{first_name}", "--param", "20%", "--budget-cap", "5", "--at", "2030-01-01T09:00:00+01:00",
        cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["status"] == "draft"
    assert connector("campaigns", "pause", "1", cwd=tmp_path).returncode == 2  # a draft is not running
    started = json.loads(connector("campaigns", "start", "1", cwd=tmp_path).stdout)
    assert started["status"] == "scheduled"  # its start time is in the future
    assert json.loads(connector("campaigns", "pause", "1", cwd=tmp_path).stdout)["status"] == "paused"
    # Resumed before its start time: it waits for that time again.
    assert json.loads(connector("campaigns", "resume", "1", cwd=tmp_path).stdout)["status"] == "scheduled"
    cancelled = json.loads(connector("campaigns", "cancel", "1", cwd=tmp_path).stdout)
    assert cancelled["status"] == "cancelled" and cancelled["progress"]["sent"] == 0
    assert connector("campaigns", "status", "9", cwd=tmp_path).returncode == 2
    earned = json.loads(connector("campaigns", "earned", cwd=tmp_path).stdout)
    assert earned == {"by_day": [], "by_source": [], "by_campaign": []}

    # Featured products: each --product (a product's, a variant's or a catalog id) becomes a card.
    _catalog(tmp_path)
    featured = connector(
        "campaigns", "create", "--segment", "1", "--channel", "1", "--template", "featured", "--language", "en_US",
        "--product", "P-1", "--product", "V-2", cwd=tmp_path,
    )  # fmt: skip
    assert featured.returncode == 0, featured.stderr
    assert json.loads(featured.stdout)["products"] == ["V-1", "V-2"]  # P-1 shows its first variant
    unknown = connector(
        "campaigns", "create", "--segment", "1", "--channel", "1", "--template", "featured", "--language", "en_US",
        "--product", "V-9", cwd=tmp_path,
    )  # fmt: skip
    assert unknown.returncode == 2 and "V-9 is not in this number's catalog" in unknown.stderr


def _catalog(folder: Path) -> None:
    """Two variants of product P-1 in the WhatsApp number's catalog (retailer id = variant id)."""
    rt = Runtime(load_config(folder / "connector.toml"))
    try:
        with rt.db.session() as session:
            for vid in ("V-1", "V-2"):
                variant = ShopVariant(
                    shop_connection_id=1, external_id=vid, product_external_id="P-1", title=f"Shirt {vid}",
                    data={}, content_hash="x", stock_quantity=3,
                )  # fmt: skip
                session.add(variant)
                session.flush()
                session.add(CatalogItem(channel_connection_id=1, shop_variant_id=variant.id, retailer_id=vid))
    finally:
        rt.close()
