"""Built-in housekeeping jobs, registered through the same ``connector_register_jobs`` hook as any plugin.

* ``housekeeping.prune_webhooks`` (daily): delete processed webhook deliveries older than 30 days
  (failed ones are kept for the owner to look at).
* ``housekeeping.prune_tasks`` (daily): delete finished tasks older than 7 days.
* ``housekeeping.recover_messages`` (every 5 minutes): an outbox message stuck in ``sending`` for
  :data:`STUCK_SENDING` was interrupted before the channel answered (a live send ends within its HTTP
  timeout, well before); mark it ``unknown`` so status webhooks can settle it instead of sending it twice.
  Not the task lease: a lease is a few heartbeats long and says nothing about how long a live send takes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, update

from connector import hookimpl
from connector.db.models import OutboundMessage, Task, WebhookEvent

if TYPE_CHECKING:
    from connector.work.registry import TaskContext
    from connector.work.scheduler import JobRegistry

WEBHOOK_RETENTION = timedelta(days=30)
TASK_RETENTION = timedelta(days=7)
#: A row ``sending`` this long has no live send behind it (one request times out after 35 s at most).
STUCK_SENDING = timedelta(minutes=15)


@hookimpl
def connector_register_jobs(jobs: JobRegistry) -> None:
    """The core's own maintenance jobs."""
    jobs.cron("housekeeping.prune_webhooks", task="housekeeping.prune_webhooks", hour=4, minute=10)
    jobs.cron("housekeeping.prune_tasks", task="housekeeping.prune_tasks", hour=4, minute=20)
    jobs.interval("housekeeping.recover_messages", task="housekeeping.recover_messages", minutes=5)

    @jobs.task("housekeeping.prune_webhooks")
    def prune_webhooks(ctx: TaskContext) -> None:
        cutoff = datetime.now(UTC) - WEBHOOK_RETENTION
        with ctx.runtime.db.session() as session:
            session.execute(
                delete(WebhookEvent).where(WebhookEvent.status == "processed", WebhookEvent.received_at < cutoff)
            )

    @jobs.task("housekeeping.prune_tasks")
    def prune_tasks(ctx: TaskContext) -> None:
        cutoff = datetime.now(UTC) - TASK_RETENTION
        with ctx.runtime.db.session() as session:
            session.execute(delete(Task).where(Task.status == "done", Task.finished_at < cutoff))

    @jobs.task("housekeeping.recover_messages")
    def recover_messages(ctx: TaskContext) -> None:
        cutoff = datetime.now(UTC) - STUCK_SENDING
        with ctx.runtime.db.session() as session:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.status == "sending", OutboundMessage.updated_at < cutoff)
                .values(status="unknown", error="interrupted while sending; waiting for the channel's status webhook")
            )
