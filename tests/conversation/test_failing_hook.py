"""A customer message is answered even when a plugin's ``connector_inbound_message`` fails once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from connector import hookimpl, model
from connector.db.models import Task, WebhookEvent
from connector.plugins import Plugins
from tests.conftest import wait_for
from tests.conversation.conftest import ChatStack


class FlakyObserver:
    """A third-party plugin whose hook fails the first time it sees a message (its database was down, say)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @hookimpl
    def connector_inbound_message(self, message: model.Inbound) -> None:
        self.calls[message.message_id] += 1
        if self.calls[message.message_id] == 1:
            raise ConnectionError("observer's database unreachable")


@pytest.fixture
def flaky(plugins: Plugins) -> Iterator[FlakyObserver]:
    plugin = FlakyObserver()
    plugins.register(plugin, name="test-flaky-observer")  # registered last: pluggy calls it first
    try:
        yield plugin
    finally:
        plugins.unregister(plugin)


def test_a_failing_hook_does_not_leave_the_customer_unanswered(chat_stack: ChatStack, flaky: FlakyObserver) -> None:
    customer = chat_stack.whatsapp_customer()
    replies = customer.say("Hello")
    # The message was stored, its answer queued with it, by the first run, whose hooks stopped at the failing
    # plugin: the chat answered it, once, without waiting for the webhook's task to run again. That second run
    # fires the hooks for the stored message once more, so the failing plugin sees it too.
    [menu] = replies
    assert menu["interactive"]["type"] == "list"

    def hooks_ran_again() -> bool:
        with chat_stack.runtime.db.session() as session:
            waiting = session.scalar(
                select(Task.id).where(Task.kind == "webhook.process", Task.status.in_(("pending", "running")))
            )
        return waiting is None and sum(flaky.calls.values()) >= 2

    wait_for(hooks_ran_again, timeout=60)
    [(message_id, calls)] = flaky.calls.items()
    assert calls == 2
    with chat_stack.runtime.db.session() as session:
        [(task, event)] = [
            (task, event)
            for task in session.scalars(select(Task).where(Task.kind == "webhook.process"))
            if (event := session.get(WebhookEvent, task.args["event_id"])) is not None
            and message_id.encode() in event.body
        ]
        assert (task.status, task.attempts, event.status) == ("done", 2, "processed")
    # Nothing more comes later: the second run fired the hook once more, not a second conversation.
    assert customer.say("Hi") and len(chat_stack.graph.messages_to(customer.user_id)) == 2
