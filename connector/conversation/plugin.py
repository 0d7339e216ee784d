"""Hook implementations of the conversation subsystem, registered as an essential core plugin.

How an event hook finds its runtime: ``connector_inbound_message`` gets no runtime argument, but the
core fires it from ``connector.chat.inbound.receive(rt, ...)``, so the runtime is a local (``rt``) of a
caller up the stack; :func:`_runtime` looks for it there (a few frames, no globals involved, correct
with several runtimes in one process as in tests). The runtime that registered our task handler in
``connector_register_jobs`` is kept as a fallback (one runtime per process in production). The hook
only enqueues ``conversation.handle`` with the inbound message row id; the worker answers.
"""

from __future__ import annotations

import logging
import sys
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connector import hookimpl
from connector.conversation import engine, handoff

if TYPE_CHECKING:
    from connector.model import Inbound
    from connector.runtime import Runtime
    from connector.work.scheduler import JobRegistry

log = logging.getLogger(__name__)

_fallback: weakref.ReferenceType[Any] | None = None
_MAX_FRAMES = 12


def _runtime_in_stack(start: int = 2) -> Runtime | None:
    from connector.runtime import Runtime

    frame = sys._getframe(start)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None
        for name in ("rt", "runtime", "self"):
            value = frame.f_locals.get(name)
            if isinstance(value, Runtime):
                return value
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _runtime() -> Runtime | None:
    found = _runtime_in_stack(3)
    if found is not None:
        return found
    return _fallback() if _fallback is not None else None


@hookimpl
def connector_register_jobs(jobs: JobRegistry) -> None:
    """Register the ``conversation.handle`` and ``conversation.notify_owner`` task handlers."""
    global _fallback
    jobs.task("conversation.handle")(engine.handle_task)
    jobs.task("conversation.notify_owner")(handoff.notify_owner)
    rt = _runtime_in_stack(2)
    if rt is not None:
        _fallback = weakref.ref(rt)


@hookimpl
def connector_inbound_message(channel_connection_id: int, message: Inbound) -> None:
    """Enqueue ``conversation.handle`` for the stored message, so the worker answers it (once per message)."""
    from connector.db.models import InboundMessage

    rt = _runtime()
    if rt is None or not rt.config.chat.enabled:
        return
    with rt.db.session() as session:
        inbound_id = session.scalar(
            select(InboundMessage.id).where(
                InboundMessage.channel_connection_id == channel_connection_id,
                InboundMessage.message_id == message.message_id,
            )
        )
        if inbound_id is None:
            return
        rt.queue.enqueue(
            "conversation.handle",
            {"inbound_id": inbound_id},
            session=session,
            priority=10,
            idempotency_key=f"conversation.handle:{inbound_id}",
        )
    rt.queue._notify()
