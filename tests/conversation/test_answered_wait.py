"""The wait for an answered chat message (bench/_answered.py, used by every chat test and the journeys bench) lasts
as long as the connector makes progress on it, however long that is, and fails with what it was waiting for once
nothing moved for the stall bound."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from bench._answered import wait_answered
from bench._progress import NoProgress
from connector.db.models import Contact, InboundMessage, Task
from connector.runtime import Runtime
from tests.conftest import add_channel


def _stored(rt: Runtime, message_id: str) -> tuple[int, int]:
    """A stored inbound message and its handling task (pending): the channel's id and the task's id."""
    with rt.db.session() as session:
        channel = add_channel(session)
        contact = Contact(channel_connection_id=channel.id, channel_user_id="4915100000123", phone="4915100000123")
        session.add(contact)
        session.flush()
        inbound = InboundMessage(
            channel_connection_id=channel.id, contact_id=contact.id, message_id=message_id, type="InboundText",
            data={}, received_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(inbound)
        session.flush()
        task = Task(kind="conversation.handle", idempotency_key=f"conversation.handle:{inbound.id}", args={})
        session.add(task)
        session.flush()
        return channel.id, task.id


def test_a_message_nothing_happens_to_fails_with_what_it_waited_for(runtime: Runtime) -> None:
    channel_id, _task = _stored(runtime, "wamid.stuck")
    started = time.monotonic()
    with pytest.raises(NoProgress) as failed:
        wait_answered(runtime, channel_id, "wamid.stuck", stall=1.0)
    assert "no progress for 1 s" in str(failed.value) and "its task is pending after 0 attempt(s)" in str(failed.value)
    assert time.monotonic() - started < 30  # the stall ends it, not a fixed timeout
    with pytest.raises(NoProgress, match="the message was not stored"):
        wait_answered(runtime, channel_id, "wamid.never-arrived", stall=1.0)


def test_the_wait_goes_on_while_the_connector_makes_progress(runtime: Runtime) -> None:
    channel_id, task_id = _stored(runtime, "wamid.slow")

    def slow_connector() -> None:  # retries the task for 3 s (three times the stall bound), then finishes it
        for attempt in range(1, 11):
            time.sleep(0.3)
            with runtime.db.session() as session:
                session.execute(update(Task).where(Task.id == task_id).values(attempts=attempt))
        with runtime.db.session() as session:
            session.execute(update(Task).where(Task.id == task_id).values(status="done"))

    worker = threading.Thread(target=slow_connector)
    started = time.monotonic()
    worker.start()
    answer = wait_answered(runtime, channel_id, "wamid.slow", stall=1.0)
    worker.join()
    assert answer.done and answer.task == "done" and answer.attempts == 10
    assert time.monotonic() - started >= 3.0  # longer than the stall bound: progress kept it waiting
