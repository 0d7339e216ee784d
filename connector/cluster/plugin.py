"""Hook implementations of the cluster subsystem, registered as an essential core plugin.

* ``connector_register_cli``: ``connector web``, ``connector worker``, ``connector scheduler`` and
  ``connector cluster status``;
* ``connector_register_jobs``: the handler of ``cluster.tick`` (the job itself is added only by the
  leader scheduler, so the embedded deployment gains no job).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from connector import hookimpl

if TYPE_CHECKING:
    from connector.work.registry import TaskContext
    from connector.work.scheduler import JobRegistry


def _state(ctx: click.Context) -> Any:
    return ctx.find_root().obj


@hookimpl
def connector_register_cli(cli: click.Group) -> None:
    """Add the distributed-deployment commands."""

    @cli.command("web")
    @click.option("--bind", help="host:port (default: server.host:server.port).")
    @click.option("--workers", type=int, help="gunicorn processes (default: cluster.web_workers).")
    @click.option("--threads", type=int, help="Threads per process (default: cluster.web_threads).")
    @click.option(
        "--gunicorn-config",
        type=click.Path(exists=True, dir_okay=False),
        help="A gunicorn configuration file (e.g. deploy/gunicorn.conf.py); GUNICORN_CMD_ARGS is honoured too.",
    )
    @click.pass_context
    def web(
        ctx: click.Context, bind: str | None, workers: int | None, threads: int | None, gunicorn_config: str | None
    ) -> None:
        """Run the web app under gunicorn (any number of instances; never runs a scheduler).

        Settings, each overriding the one before: the connector's, --gunicorn-config, GUNICORN_CMD_ARGS, and
        --bind/--workers/--threads.
        """
        from connector.cluster.gunicorn_app import connector_defaults
        from connector.cluster.processes import check_distributed, run_web

        state = _state(ctx)
        check_distributed(state.config)
        run_web(
            state.config_path,
            defaults=connector_defaults(state.config),
            overrides={"bind": bind, "workers": workers, "threads": threads},
            gunicorn_config=gunicorn_config,
        )

    @cli.command("worker")
    @click.option(
        "--concurrency",
        type=click.IntRange(1, 256),
        help="Threads (default: cluster.worker_concurrency; bulk queue only: cluster.bulk_in_flight).",
    )
    @click.option(
        "--queues",
        metavar="NAMES",
        help="Comma-separated broker queues to consume (cluster.queue, cluster.bulk_queue); default: both.",
    )
    @click.option(
        "--nice",
        type=click.IntRange(0, 19),
        default=0,
        show_default=True,
        help="Lower this worker's CPU priority (like nice(1)); for the bulk worker, e.g. 10.",
    )
    @click.option("--loglevel", default="INFO", show_default=True)
    @click.pass_context
    def worker(ctx: click.Context, concurrency: int | None, queues: str | None, nice: int, loglevel: str) -> None:
        """Run a Celery worker (any number, on any machines) that runs tasks by id.

        Without --queues it consumes every queue; a large deployment adds one worker with
        `--queues connector.bulk --nice 10` for full syncs (docs/scaling.md).
        """
        from connector.cluster.processes import check_distributed, run_worker, worker_queues

        state = _state(ctx)
        check_distributed(state.config)
        try:
            chosen = worker_queues(state.config.cluster, queues)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--queues") from None
        run_worker(state.runtime, concurrency=concurrency, loglevel=loglevel, queues=chosen, nice=nice)

    @cli.command("scheduler")
    @click.pass_context
    def scheduler(ctx: click.Context) -> None:
        """Run the scheduler: one active instance (PostgreSQL advisory lock), the others stand by."""
        from connector.cluster.processes import check_distributed, run_scheduler

        state = _state(ctx)
        check_distributed(state.config)
        run_scheduler(state.runtime)

    @cli.group("cluster")
    def cluster() -> None:
        """Inspect a distributed deployment."""

    @cluster.command("status")
    @click.pass_context
    def status(ctx: click.Context) -> None:
        """Print the leader scheduler's PID, tasks by status and the last ticks, as JSON."""
        from connector.cluster.status import cluster_status

        click.echo(json.dumps(cluster_status(_state(ctx).runtime), indent=2, default=str))


@hookimpl
def connector_register_jobs(jobs: JobRegistry) -> None:
    """Register the ``cluster.tick`` handler (the leader scheduler adds the job when ``cluster.tick_seconds`` > 0)."""

    @jobs.task("cluster.tick")
    def tick(ctx: TaskContext) -> None:
        """Nothing to do: a tick that reaches ``done`` proves scheduler, relay, broker and worker all work."""
