"""The pricing migration carries stored messages forward: every estimated price stays exactly as it was stored
(September's free service replies stay free), and the pricing Meta reported starts empty."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from connector.db import Database
from connector.db.migrate import current_revision, upgrade
from tests.conftest import add_channel


def test_stored_prices_stay_as_they_were_estimated(database_url: str) -> None:
    db = Database(database_url)
    try:
        upgrade(db, "b_obs")
        with db.session() as session:
            channel_id = add_channel(session).id
        outbox = sa.Table("outbound_messages", sa.MetaData(), autoload_with=db.engine)
        stored = [
            ("reply-sept", "service", 0.0, datetime(2026, 9, 30, 12, tzinfo=UTC)),
            ("template-sept", "utility", 0.055, datetime(2026, 9, 30, 13, tzinfo=UTC)),
            ("alert-nov", "marketing", 0.1365, datetime(2026, 11, 2, 9, tzinfo=UTC)),
        ]
        with db.engine.begin() as conn:
            for key, category, cost, sent_at in stored:
                conn.execute(
                    outbox.insert().values(
                        channel_connection_id=channel_id, recipient="4915100000001", kind="test", payload="{}",
                        idempotency_key=key, status="read", attempts=1, created_at=sent_at, updated_at=sent_at,
                        sent_at=sent_at, category=category, country="DE", cost=cost, currency="EUR",
                    )
                )  # fmt: skip
        upgrade(db)
        assert current_revision(db) is not None
        outbox = sa.Table("outbound_messages", sa.MetaData(), autoload_with=db.engine)
        with db.engine.connect() as conn:
            found = {row.idempotency_key: row for row in conn.execute(sa.select(outbox).order_by(outbox.c.id))}
        for key, category, cost, _ in stored:
            assert (found[key].category, found[key].cost, found[key].currency) == (category, cost, "EUR")
            assert found[key].billed_category is None and found[key].billable is None
        assert "template_categories" in sa.inspect(db.engine).get_table_names()
    finally:
        db.dispose()
