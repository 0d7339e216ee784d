"""The three processes of a distributed deployment: ``connector web``, ``connector worker``, ``connector scheduler``.

:func:`activate` switches a runtime to the distributed backend (PostgreSQL required, tasks get a tenant
group); each ``run_*`` function is what its CLI command runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connector.cluster.settings import ClusterSettings
    from connector.config import Config
    from connector.runtime import Runtime

log = logging.getLogger(__name__)


def check_distributed(config: Config) -> None:
    """Refuse to start a cluster process on a configuration that cannot work distributed."""
    if config.worker.backend != "celery":
        raise ConfigError('the cluster commands need worker.backend = "celery" (the embedded default uses `serve`)')
    if not config.database.url.startswith("postgresql"):
        raise ConfigError("the cluster commands need PostgreSQL (database.url = postgresql+psycopg://...)")


def activate(runtime: Runtime) -> Runtime:
    """Make ``runtime`` work the distributed way.

    * every new task gets its tenant group (fair dispatch by the relay);
    * the send task's rate limiters (per phone number, per recipient) keep their buckets in Redis, so the
      limits hold across all workers. (Until ``[notify] rate_limit_storage`` offers ``"redis"``, the
      storage of this runtime's limiters is swapped here; the limiter objects and rates stay the notify
      subsystem's.)
    """
    from connector.chat.messages import sender_state
    from connector.cluster.groups import TenantGrouper
    from connector.cluster.redis_limits import RedisStorage

    check_distributed(runtime.config)
    runtime.queue.grouper = TenantGrouper()
    storage = RedisStorage(runtime.config.cluster.redis_url)
    state = sender_state(runtime)
    state.throughput.storage = storage
    state.pair.storage = storage
    return runtime


def _stop_on_signals(event: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: event.set())


def worker_queues(settings: ClusterSettings, names: str | None) -> list[str]:
    """The broker queues a worker consumes: ``names`` (comma-separated), or every queue when ``None``.

    Raises ``ValueError`` for a name that is neither ``cluster.queue`` nor ``cluster.bulk_queue``: the relay
    never publishes anywhere else, so such a worker would idle while tasks wait.
    """
    known = list(dict.fromkeys([settings.queue, settings.bulk_queue]))
    if names is None:
        return known
    chosen = list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip()))
    unknown = [n for n in chosen if n not in known]
    if unknown or not chosen:
        raise ValueError(f"{', '.join(unknown) or 'no queue'}: choose from {', '.join(known)}")
    return chosen


def lower_priority(increment: int) -> int:
    """Lower this process's CPU priority by ``increment`` (like ``nice -n``); returns the new nice value.

    On Linux a nice value belongs to a thread, so every thread that already exists is lowered too; threads
    started later inherit it from the thread that starts them.
    """
    value = min(19, os.getpriority(os.PRIO_PROCESS, 0) + increment)
    tasks = Path("/proc/self/task")
    for tid in [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.setpriority(os.PRIO_PROCESS, tid, value)
    return value


def run_worker(
    runtime: Runtime,
    *,
    concurrency: int | None = None,
    loglevel: str = "INFO",
    queues: list[str] | None = None,
    nice: int = 0,
) -> None:
    """Run a Celery worker (thread pool) that claims and runs task ids, plus a relay thread if configured.

    ``queues`` defaults to both queues (a lone ``connector worker`` runs everything). A worker of the bulk
    queue alone defaults to ``bulk_in_flight`` threads and runs no relay (it is meant to be niced: the
    relay's latency matters to the regular tasks). ``nice`` lowers this process's CPU priority.
    """
    from connector.cluster.celery_app import bind_runtime, make_celery, publisher
    from connector.cluster.relay import RelayThread
    from connector.liveness import Heartbeat

    settings = runtime.config.cluster
    queues = queues or worker_queues(settings, None)
    regular = settings.queue in queues
    if nice:
        lower_priority(nice)
    activate(runtime)
    app = make_celery(settings)
    bind_runtime(runtime)
    relay = RelayThread(runtime, settings, publisher(app)) if settings.relay_in_workers and regular else None
    if relay:
        relay.start()
    heartbeat = Heartbeat(runtime, "worker")
    heartbeat.start()
    threads = concurrency or (settings.worker_concurrency if regular else settings.bulk_in_flight)
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={threads}",
                f"--queues={','.join(queues)}",
                f"--hostname=connector@{socket.gethostname()}:{os.getpid()}",
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
        heartbeat.stop()
        if relay:
            relay.stop()


def run_scheduler(runtime: Runtime, *, shutdown: threading.Event | None = None) -> None:
    """Stand by until elected (advisory lock), then run APScheduler and a relay until the lock is lost."""
    from connector.cluster.celery_app import make_celery, publisher
    from connector.cluster.leader import AdvisoryLock, lead_when_elected
    from connector.cluster.relay import RelayThread
    from connector.work.scheduler import Job, Scheduler

    settings = runtime.config.cluster
    activate(runtime)
    shutdown = shutdown or threading.Event()
    _stop_on_signals(shutdown)
    app = make_celery(settings)
    extra = (
        [
            Job(
                id="cluster.tick",
                task="cluster.tick",
                trigger="interval",
                seconds=settings.tick_seconds,
                description="Cluster liveness: scheduler -> queue -> worker",
            )
        ]
        if settings.tick_seconds
        else []
    )
    running: dict[str, Any] = {}

    def start() -> None:
        running["scheduler"] = Scheduler(runtime, extra_jobs=extra)
        running["relay"] = RelayThread(runtime, settings, publisher(app))
        running["scheduler"].start()
        running["relay"].start()
        print(f"scheduler {os.getpid()} is the leader", flush=True)

    def stop() -> None:
        for name in ("scheduler", "relay"):
            if name in running:
                running.pop(name).stop()

    print(f"scheduler {os.getpid()} standing by for the leader lock", flush=True)
    lead_when_elected(
        AdvisoryLock(runtime.config.database.url, settings.leader_lock_id),
        poll_seconds=settings.leader_poll_seconds,
        start=start,
        stop=stop,
        shutdown=shutdown,
    )


def run_web(
    config_path: str | None,
    *,
    defaults: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    gunicorn_config: str | None = None,
) -> None:
    """Run gunicorn (``gthread`` unless configured otherwise) with the app built per worker process after the fork.

    ``defaults`` come from the connector's settings; a gunicorn config file, ``GUNICORN_CMD_ARGS`` and then
    ``overrides`` (the options given to ``connector web``) override them (:mod:`connector.cluster.gunicorn_app`).
    Never runs a scheduler.
    """
    from connector.cluster.gunicorn_app import ConnectorGunicorn

    ConnectorGunicorn(config_path, defaults=defaults, overrides=overrides, config_file=gunicorn_config).run()
