"""Waiting until the connector answered one inbound chat message, for the journeys bench and the chat tests.

A message is answered when its ``conversation.handle`` task finished (done or failed), every reply part the engine
recorded (:class:`~connector.db.models_conversation.ChatReply`) has its outbox row, and the channel took or refused
each of them (the row reached a final state). The wait ends on progress, not on the clock
(:func:`bench._progress.wait_for_progress`): it goes on while this message or the connector's work moves (the
message stored, its task claimed or retried, a reply queued or sent, any task finishing elsewhere while the message
waits its turn) and fails with what the message was waiting for once nothing moved for ``stall`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bench._progress import STALL_SECONDS, wait_for_progress
from connector.db.models import InboundMessage, OutboundMessage, Task
from connector.db.models_conversation import ChatReply

if TYPE_CHECKING:
    from connector.runtime import Runtime

#: Outbox states a reply does not leave any more (the channel took it, refused it, or it was never to be sent).
SETTLED = ("sent", "delivered", "read", "failed", "skipped")


@dataclass(frozen=True)
class Answer:
    """How far the connector got with one inbound message (comparable: a change is progress)."""

    stored: bool = False
    task: str | None = None
    attempts: int = 0
    parts: int = 0
    statuses: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return (
            self.task in ("done", "failed")
            and len(self.statuses) == self.parts
            and all(s in SETTLED for s in self.statuses)
        )

    def __str__(self) -> str:
        if not self.stored:
            return "the message was not stored"
        if self.task not in ("done", "failed"):
            return f"its task is {self.task or 'missing'} after {self.attempts} attempt(s)"
        return f"{len(self.statuses)} of {self.parts} replies queued, states {list(self.statuses)}"


def answer(rt: Runtime, channel_id: int, message_id: str) -> Answer:
    """Where the connector is with ``message_id`` received on channel connection ``channel_id``."""
    with rt.db.session() as session:
        inbound = session.scalar(
            select(InboundMessage.id).where(
                InboundMessage.channel_connection_id == channel_id, InboundMessage.message_id == message_id
            )
        )
        if inbound is None:
            return Answer()
        task = session.execute(
            select(Task.status, Task.attempts).where(Task.idempotency_key == f"conversation.handle:{inbound}")
        ).first()
        parts = session.scalar(select(func.count()).where(ChatReply.inbound_message_id == inbound)) or 0
        statuses = session.scalars(
            select(OutboundMessage.status)
            .where(OutboundMessage.idempotency_key.like(f"chat:{inbound}:%"))
            .order_by(OutboundMessage.id)
        ).all()
        return Answer(True, task[0] if task else None, int(task[1]) if task else 0, int(parts), tuple(statuses))


def work_done(rt: Runtime) -> tuple[int, int, int]:
    """Counters that move while the connector works on anything: tasks finished, task attempts, replies settled."""
    with rt.db.session() as session:
        finished = session.scalar(select(func.count()).where(Task.status.in_(("done", "failed")))) or 0
        attempts = session.scalar(select(func.coalesce(func.sum(Task.attempts), 0))) or 0
        settled = session.scalar(select(func.count()).where(OutboundMessage.status.in_(SETTLED))) or 0
    return int(finished), int(attempts), int(settled)


def wait_answered(rt: Runtime, channel_id: int, message_id: str, *, stall: float = STALL_SECONDS) -> Answer:
    """Until the connector answered ``message_id`` and the channel took (or refused) every reply; fails with
    :class:`bench._progress.NoProgress` (saying what the message waits for) when nothing moved for ``stall`` s."""
    last: list[Answer] = [Answer()]

    def answered() -> bool:
        last[0] = answer(rt, channel_id, message_id)
        return last[0].done

    def progress() -> tuple[Answer, tuple[int, int, int]]:
        return last[0], work_done(rt)

    try:
        wait_for_progress(answered, progress, stall=stall, interval=0.05, what=f"the answer to {message_id}")
    except AssertionError as error:
        raise type(error)(f"{error}; {last[0]}") from None
    return last[0]
