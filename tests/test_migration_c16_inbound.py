"""Revision ``c16_inbound`` carries existing contacts forward: one keyed by a business-scoped user id gets it in
``contacts.user_id`` (so it is found when the customer later writes with their number shown), others stay as they
were; stored messages are neither edited nor deleted by the new columns."""

from __future__ import annotations

from sqlalchemy import text

from connector.db import Database
from connector.db.migrate import upgrade


def test_existing_bsuid_contacts_keep_their_id_and_messages_stay_unmarked(database_url: str) -> None:
    db = Database(database_url)
    try:
        upgrade(db, "b_obs")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO shop_connections (id, name, platform, settings, enabled, created_at)"
                    " VALUES (1, 'Shop', 'woocommerce', '{}', true, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO channel_connections (id, shop_connection_id, name, channel, settings, enabled,"
                    " created_at) VALUES (1, 1, 'Number', 'whatsapp', '{}', true, CURRENT_TIMESTAMP)"
                )
            )
            for contact_id, user_id, phone in (
                (1, "US.13491208655302741918", None),
                (2, "4915112345678", "+4915112345678"),
                (3, "7100000000001", None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO contacts (id, channel_connection_id, channel_user_id, phone, name, created_at)"
                        " VALUES (:id, 1, :user_id, :phone, '', CURRENT_TIMESTAMP)"
                    ),
                    {"id": contact_id, "user_id": user_id, "phone": phone},
                )
        upgrade(db)
        with db.engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, user_id FROM contacts ORDER BY id")).all())
        assert rows == {1: "US.13491208655302741918", 2: None, 3: None}
    finally:
        db.dispose()
