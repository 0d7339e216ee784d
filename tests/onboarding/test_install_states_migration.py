"""The c19_onb_install_states migration carries existing shops and their channels forward, both ways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from connector.db.migrate import downgrade, upgrade
from connector.plugins import Plugins
from connector.runtime import Runtime
from tests.conftest import make_config


@pytest.fixture
def rt(database_url: str, plugins: Plugins) -> Iterator[Runtime]:
    """On SQLite and on PostgreSQL."""
    runtime = Runtime(make_config(database_url), plugins=plugins)
    upgrade(runtime.db)
    yield runtime
    runtime.close()


def test_upgrade_and_downgrade_keep_shops_and_channels(rt: Runtime) -> None:
    runtime = rt
    downgrade(runtime.db, "b_obs")
    with runtime.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO shop_connections (id, name, platform, settings, enabled, created_at) VALUES (1, 'Shop', 'woocommerce', '{}', true, '2026-12-01 00:00:00+00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO channel_connections (id, shop_connection_id, name, channel, settings, enabled, created_at) VALUES (1, 1, 'Number', 'whatsapp', '{}', true, '2026-12-01 00:00:00+00')"
            )
        )
    upgrade(runtime.db)
    with runtime.db.engine.begin() as conn:
        assert conn.execute(text("SELECT name, status_note FROM shop_connections")).all() == [("Shop", None)]
        assert conn.execute(text("SELECT count(*) FROM install_states")).scalar() == 0
    downgrade(runtime.db, "b_obs")
    with runtime.db.engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM channel_connections")).scalar() == 1
        assert conn.execute(text("SELECT name FROM shop_connections")).scalar() == "Shop"
