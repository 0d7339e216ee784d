"""Deliveries that arrive together share a commit (:mod:`connector.webhooks.group_commit`): every one is still
stored exactly once, answered only once stored, and a duplicate among them costs the others nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from connector.db.models import Task, WebhookEvent
from connector.webhooks.group_commit import GroupCommit
from tests.conftest import Stack, wait_for


def test_concurrent_deliveries_with_duplicates_among_them_are_each_stored_once(stack: Stack) -> None:
    stack.full_sync()
    stack.shop.set_stock(stack.shop.variant_ids()[0], 3)

    def shop_events() -> list[WebhookEvent]:
        with stack.runtime.db.session() as session:
            return list(session.scalars(select(WebhookEvent).where(WebhookEvent.connection_kind == "shop")))

    [event] = wait_for(shop_events, timeout=60)
    headers = {k: v for k, v in event.headers.items() if k.lower() not in ("host", "content-length")}
    delivery_header = next(k for k in headers if k.lower() == "x-wc-webhook-delivery-id")

    def tasks() -> int:
        with stack.runtime.db.session() as session:
            return session.scalar(select(func.count()).select_from(Task).where(Task.kind == "webhook.process"))

    before = tasks()
    start = threading.Barrier(40)

    def deliver(n: int) -> dict[str, object]:
        start.wait()  # all at once: they queue behind one commit and share the next
        sent = {**headers, delivery_header: f"group-{n % 20}"}  # every delivery id twice
        answer = requests.post(event.url, data=event.body, headers=sent, timeout=120)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(deliver, range(40)))
    assert sorted(a["status"] for a in answers).count("accepted") == 20
    assert sorted(a["status"] for a in answers).count("duplicate") == 20
    with stack.runtime.db.session() as session:
        stored = session.execute(
            select(WebhookEvent.delivery_id, WebhookEvent.duplicates).where(WebhookEvent.delivery_id.like("group-%"))
        ).all()
    # WooCommerce delivery ids are stored with the webhook's own id after a colon.
    assert sorted((d.split(":")[0], dup) for d, dup in stored) == sorted((f"group-{n}", 1) for n in range(20))
    assert tasks() - before <= 20  # one processing task per stored delivery (some may have run already)


def test_a_batch_that_fails_is_stored_one_by_one_with_each_outcome_its_own() -> None:
    stored: list[str] = []
    gate = threading.Event()

    def write_batch(items: list[str]) -> list[str]:
        gate.wait(5)  # hold the first batch so the others queue up behind it
        if "bad" in items and len(items) > 1:
            raise ValueError("one bad item fails the transaction")
        stored.extend(items)
        return [f"ok:{i}" for i in items]

    def write_one(item: str) -> str:
        if item == "bad":
            raise ValueError("bad on its own too")
        stored.append(item)
        return f"one:{item}"

    group: GroupCommit[str, str] = GroupCommit(write_batch, write_one)
    items = ["first", "a", "bad", "b"]
    results: dict[str, object] = {}

    def submit(item: str) -> None:
        try:
            results[item] = group.submit(item)
        except ValueError as exc:
            results[item] = exc

    first = threading.Thread(target=submit, args=("first",))
    first.start()
    wait_for(lambda: group._leading)
    others = [threading.Thread(target=submit, args=(item,)) for item in items[1:]]
    for thread in others:
        thread.start()
    wait_for(lambda: len(group._queue) == 3)
    gate.set()
    for thread in [first, *others]:
        thread.join(10)
    assert results["first"] == "ok:first"
    assert results["a"] == "one:a" and results["b"] == "one:b"
    assert isinstance(results["bad"], ValueError)
    assert sorted(stored) == ["a", "b", "first"]
