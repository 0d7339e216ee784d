"""The Celery side: one task, ``connector.run(task_id)``, that claims a task row by id and runs it.

Broker messages carry only task ids. Delivery settings follow the outbox rules:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after its task
  finished, so a worker killed mid-task (even with SIGKILL) leaves it unacknowledged and the broker
  redelivers it (RabbitMQ at once when the connection drops; Redis after its visibility timeout);
* ``worker_prefetch_multiplier = 1``: a worker holds no more messages than it has threads;
* the claim is an atomic ``UPDATE ... WHERE status IN ('pending', 'queued') RETURNING`` on the row, so a
  redelivered or duplicated message for a task that already runs or ran does nothing, and a task whose
  worker died is claimable again once its lease ran out (the relay republishes it);
* no Celery ``rate_limit`` (per worker only): the send task's limits use Redis (:mod:`.redis_limits`);
* no broker ETA/countdown: delays live in ``tasks.due_at`` and the relay publishes a task when it is due;
* two queues, ``cluster.queue`` and ``cluster.bulk_queue`` (full syncs): the relay picks the queue, a worker
  consumes the ones ``--queues`` names (both by default).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from celery import Celery

from connector.work.worker import run_task

if TYPE_CHECKING:
    from connector.cluster.settings import ClusterSettings
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

TASK_NAME = "connector.run"

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def bind_runtime(runtime: Runtime) -> None:
    """Set the runtime Celery tasks of this process run with (``connector worker`` does this before starting)."""
    global _runtime
    with _runtime_lock:
        _runtime = runtime


def make_celery(settings: ClusterSettings) -> Celery:
    """A Celery app on ``settings.broker_url`` with the delivery settings above."""
    app = Celery("connector", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.queue,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # Redis only: how long an unacknowledged message stays invisible before redelivery. Tasks hold their
        # message while they run; the DB lease is the real guard, so keep this above the longest task.
        broker_transport_options={"visibility_timeout": 6 * 3600},
    )

    @app.task(name=TASK_NAME, ignore_result=True)
    def run(task_id: int) -> None:
        """Claim task row ``task_id`` and run it; nothing happens if it is not claimable (already taken or done)."""
        runtime = _runtime
        if runtime is None:
            raise RuntimeError("connector.run called in a process without a runtime (use `connector worker`)")
        worker = f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"
        claimed = runtime.queue.claim_id(int(task_id), worker)
        if claimed is None:
            return
        run_task(runtime, claimed)

    return app


def publisher(app: Celery) -> Callable[[list[int], str], None]:
    """A function that publishes task ids to a queue, reusing one broker connection per call."""

    def publish(ids: list[int], queue: str) -> None:
        with app.producer_or_acquire() as producer:
            for task_id in ids:
                app.send_task(TASK_NAME, args=[task_id], queue=queue, producer=producer)

    return publish
