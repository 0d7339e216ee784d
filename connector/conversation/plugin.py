"""Hook implementations of the conversation subsystem, registered as an essential core plugin.

Event hooks receive the ``runtime`` that fired them. ``connector_inbound_message`` only enqueues
``conversation.handle`` with the inbound message row id; the worker answers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from connector import hookimpl
from connector.conversation import engine, handoff, outbox

if TYPE_CHECKING:
    from connector.model import Inbound
    from connector.runtime import Runtime
    from connector.work.scheduler import JobRegistry

log = logging.getLogger(__name__)


@hookimpl
def connector_register_jobs(jobs: JobRegistry, runtime: Runtime) -> None:
    """Register the ``conversation.handle`` and ``conversation.notify_owner`` task handlers."""
    jobs.task("conversation.handle")(engine.handle_task)
    # The message read and the contact's lease taken in the transaction that claims the task (one fewer per turn).
    runtime.queue.at_claim("conversation.handle", lambda session, args: engine.start(runtime, session, **args))
    jobs.task("conversation.notify_owner")(handoff.notify_owner)
    _check_at_startup(runtime)


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
def connector_inbound_message(channel_connection_id: int, message: Inbound, runtime: Runtime) -> None:
    """Enqueue ``conversation.handle`` for the stored message, so the worker answers it (once per message)."""
    from connector.db.models import InboundMessage
    from connector.webhooks.processing import answer_queued, stored_inbound_id

    rt = runtime
    if not rt.config.chat.enabled or answer_queued(channel_connection_id, message.message_id):
        return  # off, or queued with the message by the webhook processing that stored it
    with rt.db.session() as session:
        # The webhook processing that stored the message knows its row id; anyone else firing the hook does not.
        inbound_id = stored_inbound_id(channel_connection_id, message.message_id) or session.scalar(
            select(InboundMessage.id).where(
                InboundMessage.channel_connection_id == channel_connection_id,
                InboundMessage.message_id == message.message_id,
            )
        )
        if inbound_id is None:
            return
        engine.queue_answer(rt, session, inbound_id)
    rt.queue.notify()


@hookimpl
def connector_notification_sent(
    channel_connection_id: int, message_id: int, channel_message_id: str, kind: str, runtime: Runtime
) -> None:
    """A chat reply was accepted by the channel: queue the next part of the same answer (keeps replies in order)."""
    if kind == outbox.KIND:
        outbox.advance(runtime, message_id)
