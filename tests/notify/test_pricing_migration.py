"""The pricing migration carries stored messages forward: every estimated price stays exactly as it was stored
(September's free service replies stay free), and the pricing Meta reported starts empty."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from cryptography.fernet import Fernet

from connector import model
from connector.chat.inbound import apply_delivery_statuses
from connector.db import Database
from connector.db.migrate import current_revision, upgrade
from connector.db.models import OutboundMessage
from connector.notify import billing
from connector.secrets import SecretBox
from tests.conftest import add_channel


def test_stored_prices_stay_as_they_were_estimated(database_url: str) -> None:
    db = Database(database_url)
    try:
        upgrade(db, "c16_misc_phone")  # the revision before the pricing migration
        # Rows as the schema of that revision holds them (the ORM models describe today's schema).
        meta = sa.MetaData()
        shops = sa.Table("shop_connections", meta, autoload_with=db.engine)
        channels = sa.Table("channel_connections", meta, autoload_with=db.engine)
        now = datetime(2026, 9, 1, tzinfo=UTC)
        with db.engine.begin() as conn:
            shop_id = conn.execute(
                shops.insert().values(name="Shop", platform="woocommerce", settings={}, enabled=True, created_at=now)
            ).inserted_primary_key[0]
            channel_id = conn.execute(
                channels.insert().values(
                    shop_connection_id=shop_id, name="Number", channel="whatsapp", settings={}, enabled=True,
                    created_at=now,
                )
            ).inserted_primary_key[0]  # fmt: skip
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


def test_reported_pricing_and_template_categories_on_both_databases(database_url: str) -> None:
    """The statements that store Meta's reported pricing and look up re-categorized templates, on SQLite and
    PostgreSQL (the live-stack tests run on SQLite)."""
    db = Database(database_url, secrets=SecretBox([Fernet.generate_key().decode()]))
    try:
        upgrade(db)
        sent = datetime(2026, 12, 1, 10, tzinfo=UTC)
        with db.session() as session:
            channel_id = add_channel(session).id
            row = OutboundMessage(
                channel_connection_id=channel_id, recipient="4915100000001", kind="chat_reply", payload={},
                idempotency_key="pg-billed", status="sent", channel_message_id="wamid.X", sent_at=sent,
                category="service", country="DE", cost=0.055, currency="EUR",
            )  # fmt: skip
            session.add(row)
            session.flush()
            row_id = row.id
        pricing = {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"}
        statuses = [
            model.DeliveryStatus("wamid.X", state, "4915100000001", pricing=pricing)
            for state in (model.DeliveryState.DELIVERED, model.DeliveryState.READ)
        ]
        with db.session() as session:
            apply_delivery_statuses(session, channel_id, statuses)
        with db.session() as session:
            stored = session.get(OutboundMessage, row_id)
            assert stored is not None and stored.status == "read"
            assert (stored.billed_category, stored.billed_type, stored.billable, stored.pricing_model) == (
                "service", "regular", True, "PMP",
            )  # fmt: skip

        change = model.TemplateCategoryUpdate(
            template_id="77", name="order_shipped", language="en_US", category="marketing",
            previous_category="utility", effective_at=datetime(2026, 12, 2, tzinfo=UTC),
        )  # fmt: skip
        with db.session() as session:
            assert billing.record_category_change(session, channel_id, change)
            assert not billing.record_category_change(session, channel_id, change)  # a redelivery: once
        with db.session() as session:
            before = billing.template_category(session, channel_id, "order_shipped", "en_US", sent)
            after = billing.template_category(session, channel_id, "order_shipped", "en_US", datetime.now(UTC))
        assert (before, after) == (None, "marketing")
    finally:
        db.dispose()
