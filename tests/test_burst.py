"""Bursts and fairness: shop webhooks coalesce into one waiting targeted sync per shop, chat work goes first,
and waiting ages every other task so a stream of urgent work starves nothing."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from connector import model
from connector.chat.messages import queue_message
from connector.db.migrate import upgrade
from connector.db.models import ShopConnection, Task, WebhookEvent
from connector.plugins import Plugins
from connector.runtime import Runtime
from connector.sync.targeted import enqueue_targeted_sync
from connector.work import priorities
from connector.work.queue import TaskQueue
from connector.work.worker import run_task
from tests.conftest import Stack, make_config, start_stack, stop_stack, wait_for


def _targeted_syncs(rt: Runtime, *statuses: str) -> list[Task]:
    with rt.db.session() as session:
        rows = session.scalars(select(Task).where(Task.kind == "catalog.sync", Task.status.in_(statuses)))
        return [row for row in rows if row.args.get("mode") == "items"]


def _backdate(rt: Runtime | TaskQueue, task_ids: list[int], seconds: float) -> None:
    """Make tasks due ``seconds`` ago, as if they had waited that long."""
    with rt.db.session() as session:
        due = datetime.now(UTC) - timedelta(seconds=seconds)
        session.execute(update(Task).where(Task.id.in_(task_ids)).values(due_at=due))


@pytest.fixture
def paused_stack(runtime: Runtime) -> Iterator[Stack]:
    """The whole product over real HTTP, its worker stopped: the test claims and runs tasks itself, in order."""
    s = start_stack(runtime)
    s.server.worker.stop()
    yield s
    stop_stack(s)


def test_a_burst_of_shop_webhooks_for_a_few_products_leaves_one_waiting_sync_with_their_union(stack: Stack) -> None:
    rt = stack.runtime
    stack.full_sync()
    variants = stack.shop.variant_ids()[:3]
    # Another process is syncing this shop (a long full sync): the targeted syncs the burst starts must wait.
    owner = f"{socket.gethostname()}:{os.getpid()}:full-sync-elsewhere"
    with rt.db.session() as session:
        session.execute(
            update(ShopConnection)
            .where(ShopConnection.id == stack.shop_id)
            .values(sync_lease_owner=owner, sync_lease_until=datetime.now(UTC) + timedelta(minutes=10))
        )
    for round_ in range(8):
        for i, variant in enumerate(variants):
            stack.shop.set_stock(variant, 40 + 3 * round_ + i)

    def all_processed() -> bool:
        with rt.db.session() as session:
            statuses = list(session.scalars(select(WebhookEvent.status).where(WebhookEvent.connection_kind == "shop")))
            return len(statuses) >= 24 and all(status == "processed" for status in statuses)

    wait_for(all_processed)
    # 24 deliveries, one waiting sync (re-checked until no worker holds one mid-hand-over).
    [waiting] = wait_for(lambda: not _targeted_syncs(rt, "running") and _targeted_syncs(rt, "pending"))
    assert len(_targeted_syncs(rt, "pending", "queued")) == 1
    assert set(variants) <= set(waiting.args["variant_ids"])
    assert waiting.args["variant_ids"] == sorted(set(waiting.args["variant_ids"]))

    # The other sync ends: the one waiting sync brings the last stock of every product to the catalog.
    with rt.db.session() as session:
        session.execute(
            update(ShopConnection)
            .where(ShopConnection.id == stack.shop_id)
            .values(sync_lease_owner=None, sync_lease_until=None)
        )
    final = {variant: 40 + 21 + i for i, variant in enumerate(variants)}
    wait_for(lambda: all(stack.catalog()[v]["inventory"] == final[v] for v in variants))
    wait_for(lambda: not _targeted_syncs(rt, "pending", "queued", "running"))


def test_concurrent_webhooks_fold_into_one_waiting_sync_and_a_running_one_takes_no_new_ids(
    database_url: str, plugins: Plugins
) -> None:
    rt = Runtime(make_config(database_url), plugins=plugins)
    upgrade(rt.db)
    try:
        shop_id = 1  # no shop is called: the webhooks only enqueue
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def webhooks(worker: int) -> None:
            try:
                barrier.wait()
                for n in range(15):
                    enqueue_targeted_sync(rt, shop_id, [f"p{worker}-{n}", "shared"])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=webhooks, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        [waiting] = _targeted_syncs(rt, "pending")
        expected = sorted({f"p{w}-{n}" for w in range(6) for n in range(15)} | {"shared"})
        assert waiting.args["variant_ids"] == expected

        # A worker claims (reads) it: ids that arrive now start the next sync, they don't vanish into this one.
        [claimed] = rt.queue.claim("w1")
        assert claimed.id == waiting.id and claimed.args["variant_ids"] == expected
        later = enqueue_targeted_sync(rt, shop_id, ["late", "shared"])
        assert later != claimed.id
        [running] = _targeted_syncs(rt, "running")
        [pending] = _targeted_syncs(rt, "pending")
        assert running.args["variant_ids"] == expected
        assert (pending.id, pending.args["variant_ids"]) == (later, ["late", "shared"])
    finally:
        rt.close()


def test_a_chat_reply_queued_behind_thousands_of_sync_tasks_is_claimed_first(quiet_stack: Stack) -> None:
    rt, graph = quiet_stack.runtime, quiet_stack.graph
    # A customer writes (opening the window for replies) and the bot answers; then the worker stops.
    graph.customer_text(graph.connection_settings()["phone_number_id"], "4915112345678", "Hallo!", name="Erika")
    answered = len(wait_for(lambda: graph.messages_to("4915112345678")))
    wait_for(lambda: (rt.queue.next_due_in() or 60) > 1 and not rt.queue.counts().get("running"))
    quiet_stack.server.worker.stop()
    with rt.db.session() as session:
        syncs = [
            rt.queue.enqueue(
                "catalog.sync",
                {"shop_connection_id": quiet_stack.shop_id, "mode": "items", "variant_ids": [str(n)]},
                session=session,
                priority=priorities.TARGETED_SYNC,
            )
            for n in range(3000)
        ]
        full = rt.queue.enqueue(
            "catalog.sync", {"shop_connection_id": quiet_stack.shop_id, "mode": "full"}, session=session
        )
    # They have waited long (an hour; the full sync a day): aged, yet the customer's reply still goes first.
    _backdate(rt, [n for n in syncs if n is not None], 3600)
    _backdate(rt, [full] if full is not None else [], 86400)
    reply = queue_message(
        rt,
        channel_connection_id=quiet_stack.channel_id,
        recipient="4915112345678",
        message=model.TextMessage(body="Your order is on its way."),
        kind="reply",
        idempotency_key="reply:burst-test",
    )
    [first] = rt.queue.claim("w1")
    assert first.kind == "message.send" and first.args["message_id"] == reply
    assert run_task(rt, first)
    sent = graph.messages_to("4915112345678")[answered:]
    assert [m["text"]["body"] for m in sent] == ["Your order is on its way."]


def test_a_customer_is_answered_before_a_burst_of_shop_webhooks_is_processed(paused_stack: Stack) -> None:
    rt, graph = paused_stack.runtime, paused_stack.graph
    variants = paused_stack.shop.variant_ids()[:4]
    for round_ in range(10):
        for variant in variants:
            paused_stack.shop.set_stock(variant, 10 + round_)

    def stored(kind: str) -> list[WebhookEvent]:
        with rt.db.session() as session:
            return list(session.scalars(select(WebhookEvent).where(WebhookEvent.connection_kind == kind)))

    wait_for(lambda: len(stored("shop")) == 40)
    graph.customer_text(graph.connection_settings()["phone_number_id"], "4915112345678", "Hallo!", name="Erika")
    wait_for(lambda: stored("channel"))

    # Run tasks one at a time, most urgent first, as a worker does, until the customer has an answer.
    def answered() -> bool:
        claimed = rt.queue.claim("w1")
        if claimed:
            run_task(rt, claimed[0])
        return bool(graph.messages_to("4915112345678"))

    wait_for(answered, timeout=60, interval=0)
    assert all(event.status == "received" for event in stored("shop"))  # not one of the 40 went first


def test_an_old_low_priority_task_is_claimed_before_a_stream_of_newer_urgent_ones(database_url: str) -> None:
    queue = TaskQueue(_migrated(database_url), aging_seconds=3.0)
    try:
        old_full_sync = queue.enqueue("catalog.sync", {"mode": "full"}, priority=priorities.DEFAULT)
        young_full_sync = queue.enqueue("catalog.sync", {"mode": "full", "shop": 2}, priority=priorities.DEFAULT)
        stream = [
            queue.enqueue("catalog.sync", {"mode": "items", "n": n}, priority=priorities.TARGETED_SYNC)
            for n in range(20)
        ]
        # Waiting 300 s beats 80 priority steps of 3 s (240 s); waiting 60 s does not.
        _backdate(queue, [old_full_sync], 300)
        _backdate(queue, [young_full_sync], 60)
        _backdate(queue, stream, 1)
        chat = queue.enqueue("conversation.handle", {"inbound_id": 1}, priority=priorities.CHAT)
        order = [task.id for _ in range(23) for task in queue.claim("w1")]
        assert order == [chat, old_full_sync, *stream, young_full_sync]
    finally:
        queue.db.dispose()


def _migrated(url: str) -> Any:
    from connector.db import Database

    db = Database(url)
    upgrade(db)
    return db


@pytest.mark.postgres
def test_the_cluster_relay_publishes_chat_first_then_an_aged_task_before_newer_urgent_ones(
    postgres_url: str, plugins: Plugins
) -> None:
    from connector.cluster.relay import publish_due
    from connector.cluster.settings import ClusterSettings

    rt = Runtime(make_config(postgres_url), plugins=plugins)
    upgrade(rt.db)
    try:
        old = rt.queue.enqueue("housekeeping.prune", priority=priorities.DEFAULT)
        stream = [
            rt.queue.enqueue("catalog.sync", {"shop_connection_id": n, "mode": "items"}, priority=20) for n in range(20)
        ]
        _backdate(rt, [old], 300)
        _backdate(rt, stream, 1)
        chat = rt.queue.enqueue("conversation.handle", {"inbound_id": 1}, priority=priorities.CHAT)
        published: list[int] = []
        settings = ClusterSettings(max_in_flight=2, tenant_in_flight=2)
        publish_due(rt, settings, lambda ids, queue: published.extend(ids))
        assert published == [chat, old]
    finally:
        rt.close()
