"""Batch sends (``message.send_batch``) and status webhooks applied in the request, over real HTTP.

* a back-in-stock wave is sent in batches, with the same rules as single sends (no opt-in: skipped);
* a worker SIGKILLed while a batch is on the wire duplicates and loses nothing (counted by the Graph sandbox);
* a status-only WhatsApp webhook is applied in the request's transaction (no ``webhook.process`` task), stored
  once as ``processed``, and a late, older status never moves a row backwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import requests
from sqlalchemy import func, select

from bench import _fanout_harness as harness
from connector.chat.messages import BATCH_TASK
from connector.db.models import Task, WebhookEvent
from connector.db.models_notify import OutboxEvent
from connector.notify.consent import record_opt_out
from connector.notify.contacts import contact_for_phone
from connector.sandbox.base import Sandbox
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, rows, settled
from tests.notify.test_back_in_stock import BIS_TEMPLATE, _sold_out_variant, _subscribers, _with_template


def _tasks(stack: Stack, kind: str) -> int:
    with stack.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(Task).where(Task.kind == kind))


def test_a_wave_is_sent_in_batches_with_the_same_rules_and_statuses_come_in_the_request(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE, back_in_stock_factor=10.0)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    phones = _subscribers(stack, variant, 6)
    with stack.runtime.db.session() as session:
        contact = contact_for_phone(session, stack.shop_id, phones[2])
        assert contact is not None
        record_opt_out(stack.runtime, contact_id=contact.id, purpose="marketing", source="test", session=session)

    stack.shop.set_stock(variant, 5)
    result = settled(stack, "back_in_stock", count=6)
    assert _tasks(stack, BATCH_TASK) >= 1 and _tasks(stack, "message.send") == 0  # one batch, no single sends
    by_phone = {r.recipient: r for r in result}
    assert by_phone[phones[2]].status == "skipped" and by_phone[phones[2]].reason == "no opt-in for marketing messages"
    assert stack.graph.messages_to(phones[2]) == []
    others = [p for p in phones if p != phones[2]]
    for phone in others:
        assert len(stack.graph.messages_to(phone)) == 1

    # The sandbox reports sent, delivered, read: each status webhook is applied in its request.
    wait_for(lambda: all(r.status == "read" for r in rows(stack, kind="back_in_stock") if r.recipient in others))
    assert stack.graph.wait_webhooks()["failed"] == 0  # a "delivered" may still be on its way after the "read"

    # Each batch recorded its sends' answers the first time. A batch is marked done with its answers in its worker
    # thread's next claim, which may come after the statuses above: wait for the marks, then check how they went.
    def batches_finished() -> list[Task]:
        with stack.runtime.db.session() as session:
            batches = list(session.scalars(select(Task).where(Task.kind == BATCH_TASK)))
        return batches if all(t.status in ("done", "failed") for t in batches) else []

    batches = wait_for(batches_finished)
    assert [(t.status, t.attempts, t.last_error) for t in batches] == [("done", 1, None)] * len(batches)
    with stack.runtime.db.session() as session:
        events = list(session.scalars(select(WebhookEvent).where(WebhookEvent.connection_kind == "channel")))
    status_events = [e for e in events if b'"statuses"' in e.body]
    assert len(status_events) >= 15 and all(e.status == "processed" for e in status_events)
    with stack.runtime.db.session() as session:
        processing = [t.args["event_id"] for t in session.scalars(select(Task).where(Task.kind == "webhook.process"))]
    assert not {e.id for e in status_events} & set(processing)  # no worker task for any of them

    # A redelivery is a duplicate; an older status in a new delivery is recorded but moves nothing backwards.
    event = status_events[0]
    headers = {k: v for k, v in event.headers.items() if k.lower() not in ("host", "content-length")}
    assert requests.post(event.url, data=event.body, headers=headers, timeout=10).json()["status"] == "duplicate"
    body = json.loads(event.body)
    status = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    status["status"] = "sent"
    raw = json.dumps(body, indent=1).encode()
    secret = stack.graph.connection_settings()["app_secret"]
    headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert requests.post(event.url, data=raw, headers=headers, timeout=10).json()["status"] == "accepted"
    [row] = [r for r in rows(stack, kind="back_in_stock") if r.channel_message_id == status["id"]]
    assert row.status == "read"
    with stack.runtime.db.session() as session:
        details = list(session.scalars(select(OutboxEvent.detail).where(OutboxEvent.message_id == row.id)))
    assert "status webhook: sent (no change)" in details


SUBSCRIBERS = 600


def test_a_worker_killed_while_a_batch_is_on_the_wire_duplicates_and_loses_nothing(
    tmp_path: Path, graph: Sandbox
) -> None:
    fan = harness.prepare(
        tmp_path,
        subscribers=SUBSCRIBERS,
        graph_url=graph.url,
        graph_settings=graph.connection_settings(),
        worker_threads=4,
        messages_per_second=40,  # slow enough that the kill lands mid fan-out even on a loaded machine
    )
    server = harness.start_webhook_receiver(fan)
    try:
        harness.start_wave(fan)
        fan.start_worker()
        # Kill while rows are claimed ``sending`` (a batch on the wire), somewhere in the middle.
        assert fan.wait(
            lambda: fan.accepted() >= SUBSCRIBERS // 4 and fan.outbox_counts().get("sending", 0) > 0,
            timeout=60,
            interval=0.01,
        ), "never caught a batch on the wire"
        fan.kill_worker()
        in_flight = fan.outbox_counts().get("sending", 0)
        assert fan.accepted() < SUBSCRIBERS, "the kill came too late to test anything"

        fan.start_worker()
        assert fan.wait(fan.finished, timeout=180), f"not finished: {fan.outbox_counts()}"
        duplicates, lost = fan.count_deliveries()
        assert (duplicates, lost) == (0, 0)
        assert fan.accepted() == SUBSCRIBERS
        counts = fan.outbox_counts()
        assert sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == SUBSCRIBERS
        with fan.runtime.db.session() as session:
            settled_after_kill = session.scalar(
                select(func.count(func.distinct(OutboxEvent.message_id))).where(
                    (OutboxEvent.status == "unknown") | OutboxEvent.detail.like("reconciled from a status webhook%")
                )
            )
        # Every row the kill left ``sending`` was settled by a status webhook or waited as ``unknown``.
        assert in_flight == 0 or settled_after_kill >= 1
    finally:
        fan.stop_worker()
        server.stop()
        fan.runtime.close()
