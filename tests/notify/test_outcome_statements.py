"""The statements that record many outcomes at once, on SQLite and PostgreSQL: a fan-out batch's accepted sends
(``_record_sent_many``), the pricing a status webhook reports (``billing.store_billed``) and a webhook's statuses
(``apply_delivery_statuses``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from connector.chat.inbound import apply_delivery_status, apply_delivery_statuses
from connector.chat.messages import _record_sent_many
from connector.db.migrate import upgrade
from connector.db.models import OutboundMessage
from connector.db.models_notify import OutboxEvent
from connector.model import DeliveryState, DeliveryStatus, SendResult
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
    return _channel_rows(rt, statuses)[1]


def _channel_rows(rt: Runtime, statuses: tuple[str, ...]) -> tuple[int, list[int]]:
    """Outbox rows in ``statuses`` on a new channel: its id and theirs."""
    with rt.db.session() as session:
        channel = add_channel(session)
        made = [
            OutboundMessage(
                channel_connection_id=channel.id,
                recipient=f"4915100000{n:03d}",
                kind="test",
                payload={},
                idempotency_key=f"outcome-{channel.id}-{n}",
                status=status,
            )
            for n, status in enumerate(statuses)
        ]
        session.add_all(made)
        session.flush()
        return channel.id, [row.id for row in made]


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


@contextmanager
def _counted(rt: Runtime) -> Iterator[list[str]]:
    """The SQL statements executed inside the block."""
    executed: list[str] = []

    def count(*args: object) -> None:
        executed.append(str(args[2]))

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        yield executed
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)


def _timeline(rt: Runtime, ids: list[int]) -> list[tuple[str | None, str | None, list[tuple[str, str | None]]]]:
    """Each row's status, message id and timeline (status, detail) in order."""
    with rt.db.session() as session:
        return [
            (
                row.status,
                row.channel_message_id,
                [
                    (e.status, e.detail)
                    for e in session.scalars(
                        select(OutboxEvent).where(OutboxEvent.message_id == row.id).order_by(OutboxEvent.id)
                    )
                ],
            )
            for row in _found(rt, ids)
        ]


def _early(row: int, state: DeliveryState, *, wamid: str = "wamid.early") -> DeliveryStatus:
    """A status naming outbox row ``row`` by its callback data (and by message id ``<wamid><row>``)."""
    return DeliveryStatus(f"{wamid}{row}", state, "4915100000000", callback_data=str(row))


def test_a_webhooks_statuses_that_come_before_the_sends_answer_settle_rows_as_one_at_a_time(rt: Runtime) -> None:
    """A fan-out's "sent" statuses usually come before the send's answer is recorded, naming the row only by the
    callback data we sent along. Applied together as one webhook (a few statements) they leave every row, its
    message id and its timeline as applying them one at a time does; a failure, a status after it, a row another
    channel owns and a message we know already all keep their own outcome."""
    outcomes = []
    statements: list[int] = []
    for together in (True, False):
        channel_id, ids = _channel_rows(rt, ("sending", "sending", "sending", "sending", "unknown"))
        _, (foreign,) = _channel_rows(rt, ("sending",))
        with rt.db.session() as session:  # the answer to ids[2]'s send was recorded
            session.execute(
                OutboundMessage.__table__.update()
                .where(OutboundMessage.id == ids[2])
                .values(status="sent", channel_message_id=f"wamid.known{ids[2]}")
            )

        statuses = [
            _early(ids[0], DeliveryState.SENT),
            _early(ids[1], DeliveryState.SENT),
            _early(ids[0], DeliveryState.DELIVERED),
            _early(ids[2], DeliveryState.DELIVERED, wamid="wamid.known"),
            DeliveryStatus(f"wamid.early{ids[3]}", DeliveryState.FAILED, "4915100000000",
                           errors=[{"code": 131026, "title": "Message undeliverable"}], callback_data=str(ids[3])),
            _early(ids[3], DeliveryState.DELIVERED),  # after its failure: no change
            _early(ids[4], DeliveryState.READ),  # in doubt, then read
            _early(foreign, DeliveryState.SENT),  # another channel's row: not ours to settle
        ]  # fmt: skip
        with _counted(rt) as executed, rt.db.session() as session:
            if together:
                apply_delivery_statuses(session, channel_id, statuses, rt)
            else:
                for one in statuses:
                    apply_delivery_status(rt, channel_id, one, session=session)
        outcomes.append((_timeline(rt, ids), _timeline(rt, [foreign])))
        statements.append(len(executed))

    together, one_at_a_time = outcomes
    assert statements[0] < statements[1]
    assert [(row_status, wamid is not None) for row_status, wamid, _ in together[0]] == [
        ("delivered", True), ("sent", True), ("delivered", True), ("failed", True), ("read", True)
    ]  # fmt: skip
    first = together[0][0][2]
    assert first[0][1].startswith("reconciled from a status webhook: wamid.early")
    assert [status for status, _ in first] == ["sending", "sent", "delivered"]
    assert together[1] == one_at_a_time[1] == [("sending", None, [])]

    def same_shape(rows: list[tuple[str | None, str | None, list[tuple[str, str | None]]]]) -> list[object]:
        # Row ids differ between the two runs, and so do the message ids and details that name them.
        return [(s, w is not None, [(e, (d or "").split(": wamid")[0]) for e, d in t]) for s, w, t in rows]

    assert same_shape(together[0]) == same_shape(one_at_a_time[0])


def test_fifty_sent_statuses_before_the_answers_are_recorded_take_a_few_statements_under_the_write_lock(
    rt: Runtime,
) -> None:
    """Meta folds a fan-out's statuses into webhooks of up to hundreds; each statement of the webhook's transaction
    holds the write lock the senders wait for, so fifty early statuses are not fifty lookups and updates."""
    channel_id, ids = _channel_rows(rt, ("sending",) * 50)
    statuses = [_early(i, DeliveryState.SENT) for i in ids]
    with _counted(rt) as executed, rt.db.session() as session:
        apply_delivery_statuses(session, channel_id, statuses, rt)
    rows = _timeline(rt, ids)
    assert [(status, wamid) for status, wamid, _ in rows] == [("sent", f"wamid.early{i}") for i in ids]
    assert all([s for s, _ in timeline] == ["sending", "sent"] for _, _, timeline in rows)
    assert len(executed) <= 8, executed
