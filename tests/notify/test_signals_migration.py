"""The c16_signals migration carries existing data forward: messages that failed before keep their error and
get the error code their stored error names."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from connector.db import Database
from connector.db.migrate import upgrade


def test_failed_messages_get_their_error_code_and_nothing_else_changes(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(db, "b_obs")
        now = "2026-09-01 10:00:00"
        errors = {
            1: ("failed", "bug: WhatsApp refused: (#131009) Parameter value is not valid"),
            2: ("failed", "Message undeliverable"),
            3: ("failed", "Re-engagement message"),
            4: ("failed", "Something nobody can map"),
            5: ("delivered", None),
        }
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO shop_connections (id, name, platform, settings, enabled, created_at) "
                              "VALUES (1, 'Shop', 'woocommerce', '{}', 1, :now)"), {"now": now})  # fmt: skip
            conn.execute(text("INSERT INTO channel_connections (id, shop_connection_id, name, channel, settings, "
                              "enabled, created_at) VALUES (1, 1, 'Number', 'whatsapp', '{}', 1, :now)"), {"now": now})  # fmt: skip
            for row_id, (status, error) in errors.items():
                conn.execute(
                    text("INSERT INTO outbound_messages (id, channel_connection_id, recipient, kind, payload, "
                         "idempotency_key, status, error, attempts, created_at, updated_at) VALUES (:id, 1, "
                         "'4915112345678', 'order_shipped', '{}', :key, :status, :error, 1, :now, :now)"),
                    {"id": row_id, "key": f"k{row_id}", "status": status, "error": error, "now": now},
                )  # fmt: skip

        upgrade(db)

        with db.engine.connect() as conn:
            found = {r.id: (r.status, r.error, r.error_code) for r in conn.execute(
                text("SELECT id, status, error, error_code FROM outbound_messages"))}  # fmt: skip
        assert found == {
            1: ("failed", errors[1][1], 131009),
            2: ("failed", "Message undeliverable", 131026),
            3: ("failed", "Re-engagement message", 131047),
            4: ("failed", "Something nobody can map", None),
            5: ("delivered", None, None),
        }
    finally:
        db.dispose()
