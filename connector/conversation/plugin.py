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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connector import hookimpl
from connector.conversation import engine, handoff, outbox

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
        _check_at_startup(rt)


def _check_at_startup(rt: Runtime) -> None:
    """Load plugins' intents and the template search path once at start-up, so a broken plugin shows at once."""
    from connector.conversation import texts
    from connector.conversation.intents import Intent

    for intent in rt.plugins.chat_intents():
        if not isinstance(intent, Intent):
            log.warning("connector_chat_intents returned %r, not a connector.conversation.intents.Intent", intent)
    for folder in texts.search_path(rt):
        if not Path(folder).is_dir():
            log.warning("chat template folder %s does not exist", folder)


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


@hookimpl
def connector_notification_sent(
    channel_connection_id: int, message_id: int, channel_message_id: str, kind: str
) -> None:
    """A chat reply was accepted by the channel: queue the next part of the same answer (keeps replies in order)."""
    if kind != outbox.KIND:
        return
    rt = _runtime()
    if rt is not None:
        outbox.advance(rt, message_id)
