"""The statements that record many outcomes at once, on SQLite and PostgreSQL: a fan-out batch's accepted sends
(``_record_sent_many``) and the pricing a status webhook reports (``billing.store_billed``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from connector.chat.messages import _record_sent_many
from connector.db.migrate import upgrade
from connector.db.models import OutboundMessage
from connector.db.models_notify import OutboxEvent
from connector.model import SendResult
from connector.notify.billing import store_billed
from connector.plugins import Plugins
from connector.runtime import Runtime
from tests.conftest import add_channel, make_config


@pytest.fixture
def rt(database_url: str, plugins: Plugins) -> Iterator[Runtime]:
    runtime = Runtime(make_config(database_url), plugins=plugins)
    upgrade(runtime.db)
    yield runtime
    runtime.db.engine.dispose()


def _rows(rt: Runtime, statuses: tuple[str, ...]) -> list[int]:
    with rt.db.session() as session:
        channel = add_channel(session)
        made = [
            OutboundMessage(
                channel_connection_id=channel.id,
                recipient=f"4915100000{n:03d}",
                kind="test",
                payload={},
                idempotency_key=f"outcome-{n}",
                status=status,
            )
            for n, status in enumerate(statuses)
        ]
        session.add_all(made)
        session.flush()
        return [row.id for row in made]


def _found(rt: Runtime, ids: list[int]) -> list[OutboundMessage]:
    with rt.db.session() as session:
        rows = {r.id: r for r in session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(ids)))}
    return [rows[i] for i in ids]


def test_a_batchs_answers_keep_what_a_status_webhook_settled_first(rt: Runtime) -> None:
    """Rows still sending or in doubt become "sent" with the channel's id and a timeline entry; a row a status
    webhook settled first (it names the row before the send's answer is recorded) keeps its status, gets the id."""
    ids = _rows(rt, ("sending", "unknown", "delivered"))
    with rt.db.session() as session:
        _record_sent_many(session, [(i, SendResult(message_id=f"wamid.outcome{i}", recipient_id="x")) for i in ids])

    found = _found(rt, ids)
    assert [r.status for r in found] == ["sent", "sent", "delivered"]
    assert [r.channel_message_id for r in found] == [f"wamid.outcome{i}" for i in ids]
    with rt.db.session() as session:
        timeline = {
            i: list(session.scalars(select(OutboxEvent.detail).where(OutboxEvent.message_id == i))) for i in ids
        }
    assert [timeline[i] for i in ids] == [[f"wamid.outcome{ids[0]}"], [f"wamid.outcome{ids[1]}"], []]


def test_reported_pricing_is_stored_on_each_row_and_replaced_when_it_changes(rt: Runtime) -> None:
    ids = _rows(rt, ("sent", "sent", "sent"))
    marketing = {"billed_category": "marketing", "billed_type": "regular", "billable": True, "pricing_model": "PMP"}
    free = {"billed_category": "service", "billed_type": "free_customer_service", "billable": False,
            "pricing_model": None}  # fmt: skip
    with rt.db.session() as session:
        store_billed(session, {ids[0]: marketing, ids[1]: marketing, ids[2]: free})
    found = _found(rt, ids)
    stored = [(r.billed_category, r.billed_type, r.billable, r.pricing_model) for r in found]
    assert stored == [("marketing", "regular", True, "PMP")] * 2 + [("service", "free_customer_service", False, None)]

    # A later status repeating the pricing changes nothing; a different one replaces it.
    with rt.db.session() as session:
        store_billed(session, {ids[0]: marketing, ids[2]: marketing})
    found = _found(rt, ids)
    assert [(r.billed_category, r.billable, r.pricing_model) for r in found] == [("marketing", True, "PMP")] * 3
