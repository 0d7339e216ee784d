"""The [cluster] section of the configuration file (validated at start-up with the rest of the config).

Used only with ``worker.backend = "celery"`` (``connector web``, ``connector worker``,
``connector scheduler`` on PostgreSQL); the embedded default ignores it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClusterSettings(BaseModel):
    """Settings of this subsystem. Every field needs a default, a type and a comment saying what it does."""

    model_config = ConfigDict(extra="forbid")

    #: Celery broker. RabbitMQ (the recommended broker, see docs/operations.md) or ``redis://...``.
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    #: Redis for the global rate limits (per phone number, per recipient) shared by every worker.
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: The broker queue of regular tasks (sends, webhooks, delta syncs, jobs): the relay publishes their ids
    #: there; ``connector worker`` consumes it (and the bulk queue) unless ``--queues`` says otherwise.
    queue: str = Field("connector.tasks", min_length=1)
    #: The broker queue of bulk tasks (see ``bulk_tasks``), so a dedicated, lower-priority worker
    #: (``connector worker --queues connector.bulk --nice 10``) can run them and the regular workers keep
    #: their threads and CPU for small shops. A worker started without ``--queues`` consumes both queues.
    bulk_queue: str = Field("connector.bulk", min_length=1)
    #: Tasks that go to ``bulk_queue``: a task kind (``notify.back_in_stock_wave``) or ``kind:mode`` to
    #: match the task's ``mode`` argument too (``catalog.sync:full``: full syncs, not delta syncs).
    bulk_tasks: list[str] = ["catalog.sync:full"]
    #: At most this many bulk tasks are published-but-unfinished at once (in their own budget, so a night
    #: of thousands of due full syncs never takes the regular tasks' ``max_in_flight``). Set it to the
    #: number of threads consuming ``bulk_queue`` across the cluster.
    bulk_in_flight: int = Field(2, ge=1)
    #: Key of the PostgreSQL advisory lock that elects the one active ``connector scheduler``.
    leader_lock_id: int = 727_274_001
    #: How often a standby scheduler tries to take the lock, and the leader checks it still holds it (s).
    leader_poll_seconds: float = Field(2.0, gt=0, le=30)
    #: Every N seconds the leader enqueues a ``cluster.tick`` task (scheduler -> queue -> worker liveness).
    #: 0 disables the job.
    tick_seconds: int = Field(60, ge=0)
    #: Seconds between two relay passes (publishing due task ids to the broker).
    relay_interval: float = Field(0.2, gt=0, le=10)
    #: Run a relay thread in every ``connector worker`` too (SKIP LOCKED makes several relays safe); the
    #: leader scheduler always runs one.
    relay_in_workers: bool = True
    #: A task published but not claimed within this many seconds is published again (lost broker message).
    requeue_after_seconds: int = Field(120, ge=5)
    #: At most this many tasks are published-but-unfinished at once (keeps the broker queue short so
    #: fairness is decided by the relay, not by the broker's FIFO).
    max_in_flight: int = Field(256, ge=1)
    #: At most this many of them per tenant (shop): the fairness cap.
    tenant_in_flight: int = Field(16, ge=1)
    #: Threads per ``connector worker`` process (tasks are I/O bound: HTTP to shops and Meta).
    worker_concurrency: int = Field(8, ge=1, le=256)
    #: gunicorn processes and threads per process for ``connector web``.
    web_workers: int = Field(2, ge=1)
    web_threads: int = Field(4, ge=1)
