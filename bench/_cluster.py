"""Launching a real cluster: ``connector web``, ``connector worker`` and ``connector scheduler`` as separate
processes on one PostgreSQL database, RabbitMQ as the broker and Redis for the global rate limits.

Shared by ``bench/scale.py`` and the cluster tests (``tests/cluster/conftest.py``), so the benchmark does not
import from the tests. The broker and Redis come from ``CONNECTOR_TEST_BROKER_URL`` / ``CONNECTOR_TEST_REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench._progress import NoProgress, cpu_seconds, wait_for_progress
from connector.config import generate_secrets, load_config
from connector.db.migrate import upgrade
from connector.runtime import Runtime

BROKER_URL = os.environ.get("CONNECTOR_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("CONNECTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CONNECTOR = str(Path(sys.executable).with_name("connector"))
#: Seconds the cluster's processes may go without any sign of life (CPU used, a log line) while coming up. How long
#: start-up takes in all is not bounded: at load average 22 on 2 cores the processes took 34 s to import and start.
STARTUP_STALL_SECONDS = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    path: Path,
    database_url: str,
    *,
    public_url: str = "",
    notify: dict[str, Any] | None = None,
    worker: dict[str, Any] | None = None,
    **cluster: Any,
) -> Path:
    """A TOML config for the cluster processes: PostgreSQL, the celery backend, short leases and ticks, and
    broker queue names of its own (so clusters running side by side never share a queue)."""
    secrets = generate_secrets()
    run = uuid.uuid4().hex[:8]
    settings = {
        "broker_url": BROKER_URL,
        "redis_url": REDIS_URL,
        "queue": f"connector.test.{run}",
        "bulk_queue": f"connector.test.{run}.bulk",
        "leader_lock_id": 700_000_000 + uuid.uuid4().int % 100_000_000,
        "tick_seconds": 2,
        "leader_poll_seconds": 1.0,
        "relay_interval": 0.05,
        "requeue_after_seconds": 15,
        "worker_concurrency": 8,
        **cluster,
    }

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):  # an inline table
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        return repr(v) if isinstance(v, int | float) else f'"{v}"'

    lines = [
        "[database]",
        f'url = "{database_url}"',
        "[security]",
        f'secret_key = "{secrets["secret_key"]}"',
        f'encryption_keys = ["{secrets["encryption_key"]}"]',
        "[worker]",
        *(f"{k} = {value(v)}" for k, v in {"backend": "celery", "lease_seconds": 30, **(worker or {})}.items()),
        "[cluster]",
        *(f"{k} = {value(v)}" for k, v in settings.items()),
        "[notify]",
        *(f"{k} = {value(v)}" for k, v in (notify or {}).items()),
    ]
    if public_url:
        lines += ["[server]", f'public_url = "{public_url}"']
    path.write_text("\n".join(lines) + "\n")
    return path


class Cluster:
    """The processes of one deployment, their logs, and a runtime of this process on the same database."""

    def __init__(self, config: Path, logs: Path):
        self.config = config
        self.logs = logs
        self.runtime = Runtime(load_config(config))
        from connector.cluster.processes import activate

        activate(self.runtime)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.web_url = ""

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start ``connector --config CONFIG ARGS...`` as process ``name`` (output in ``logs/name.log``)."""
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [CONNECTOR, "--config", str(self.config), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """``connector worker ARGS...`` (quiet log) as process ``name``."""
        return self.start(name, "worker", "--loglevel", "WARNING", *args)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def log_size(self, name: str) -> int:
        return (self.logs / f"{name}.log").stat().st_size

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(10)

    def leader(self) -> str | None:
        """The scheduler process that logged it is the leader last (and is still alive)."""
        for name, proc in self.procs.items():
            if name.startswith("scheduler") and proc.poll() is None and "is the leader" in self.log(name):
                return name
        return None

    def queue_consumers(self) -> dict[str, int]:
        """How many consumers the broker counts on each of the cluster's queues (0 if not declared yet)."""
        from kombu import Connection

        settings = self.runtime.config.cluster
        counts: dict[str, int] = {}
        with Connection(settings.broker_url) as conn:
            for queue in (settings.queue, settings.bulk_queue):
                try:
                    counts[queue] = conn.channel().queue_declare(queue, passive=True).consumer_count
                except Exception:  # not declared: the channel is closed by the broker, nobody consumes it
                    counts[queue] = 0
        return counts

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        self._delete_queues()
        self.runtime.close()

    def _delete_queues(self) -> None:
        from kombu import Connection

        settings = self.runtime.config.cluster
        with Connection(settings.broker_url) as conn:
            for queue in (settings.queue, settings.bulk_queue):
                with contextlib.suppress(Exception):  # never declared: fine
                    conn.channel().queue_delete(queue)


def start_cluster(
    tmp: Path,
    database_url: str,
    *,
    web: bool,
    workers: int | list[list[str]],
    schedulers: int,
    notify: dict[str, Any] | None = None,
    worker: dict[str, Any] | None = None,
    **cluster: Any,
) -> Cluster:
    """Migrate, then start the processes and wait until the web answers and a leader is elected.

    ``workers`` is a count of default workers (every queue), or one argument list per worker
    (``[["--queues", "connector.bulk", "--nice", "10"]]``); they are named ``worker1``, ``worker2``, ...
    """
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    config = write_config(
        tmp / "connector.toml", database_url, public_url=web_url, notify=notify, worker=worker, **cluster
    )
    c = Cluster(config, tmp)
    upgrade(c.runtime.db)
    if web:
        c.start("web", "web", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8")
        c.web_url = web_url
    for i, args in enumerate([[]] * workers if isinstance(workers, int) else workers):
        c.start_worker(f"worker{i + 1}", *args)
    for i in range(schedulers):
        c.start(f"scheduler{i + 1}", "scheduler")
    import requests

    def web_up() -> bool:
        try:
            return requests.get(f"{c.web_url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def signs_of_life() -> tuple[Any, ...]:
        # Importing and starting uses CPU and writes the logs; a process that exited ends the wait at once.
        exited = sorted(n for n, p in c.procs.items() if p.poll() is not None)
        return (exited, cpu_seconds([p.pid for p in c.procs.values()]), [c.log_size(n) for n in c.procs])

    def up() -> bool:
        exited = [n for n, p in c.procs.items() if p.poll() is not None]
        if exited:
            raise NoProgress(f"{', '.join(exited)} exited while starting")
        return (not web or web_up()) and (not schedulers or c.leader() is not None)

    try:
        wait_for_progress(up, signs_of_life, stall=STARTUP_STALL_SECONDS, interval=0.5, what="cluster start-up")
    except NoProgress as exc:
        logs = "\n".join(f"--- {n}\n{c.log(n)[-2000:]}" for n in c.procs)
        c.stop()
        raise RuntimeError(f"cluster did not come up ({exc}):\n{logs}") from None
    return c
