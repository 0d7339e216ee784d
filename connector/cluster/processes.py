"""The three processes of a distributed deployment: ``connector web``, ``connector worker``, ``connector scheduler``.

:func:`activate` switches a runtime to the distributed backend (PostgreSQL required, tasks get a tenant
group); each ``run_*`` function is what its CLI command runs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from typing import TYPE_CHECKING, Any

from connector.errors import ConfigError

if TYPE_CHECKING:
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


def run_worker(runtime: Runtime, *, concurrency: int | None = None, loglevel: str = "INFO") -> None:
    """Run a Celery worker (thread pool) that claims and runs task ids, plus a relay thread if configured."""
    from connector.cluster.celery_app import bind_runtime, make_celery, publisher
    from connector.cluster.relay import RelayThread

    settings = runtime.config.cluster
    activate(runtime)
    app = make_celery(settings)
    bind_runtime(runtime)
    relay = RelayThread(runtime, settings, publisher(app, settings)) if settings.relay_in_workers else None
    if relay:
        relay.start()
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency or settings.worker_concurrency}",
                f"--queues={settings.queue}",
                f"--hostname=connector@{socket.gethostname()}:{os.getpid()}",
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
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
        running["relay"] = RelayThread(runtime, settings, publisher(app, settings))
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


def run_web(config_path: str | None, *, bind: str, workers: int, threads: int) -> None:
    """Run gunicorn (``gthread``) with the app built per worker process after the fork; never a scheduler."""
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": bind,
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "preload_app": False,
                "accesslog": None,
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from connector.cluster.web import create_cluster_app

            return create_cluster_app(config_path)

    _Gunicorn().run()
