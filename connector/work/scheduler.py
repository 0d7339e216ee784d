"""Scheduled jobs: APScheduler 3 with fixed job ids; each tick only enqueues a task.

Exactly one scheduler may run per database (APScheduler 3 cannot share a job store, and a
scheduler per gunicorn worker runs every job N times). ``connector serve`` runs one in-process;
the web app never starts one. Every tick is recorded in ``job_runs`` under a unique
``(job_id, scheduled_for)`` key in the same transaction as its task, so even two schedulers started
by mistake enqueue each tick once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector.db.models import JobRun
from connector.liveness import Heartbeat

if TYPE_CHECKING:
    from connector.runtime import Runtime
    from connector.work.registry import Handler, TaskRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """A scheduled job: every tick enqueues ``task`` with ``args``."""

    id: str
    task: str
    trigger: str  # "interval" | "cron"
    seconds: int = 0
    hour: int = 0
    minute: int = 0
    args: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def tick(self, now: datetime) -> datetime:
        """The scheduled time of the tick that fires at ``now``: the key that stops a tick running twice."""
        now = now.astimezone(UTC)
        if self.trigger == "interval":
            epoch = int(now.timestamp())
            return datetime.fromtimestamp(epoch - epoch % self.seconds, UTC)
        return now.replace(second=0, microsecond=0)


class JobRegistry:
    """Collects scheduled jobs (core and plugins, through ``connector_register_jobs``) and task handlers."""

    def __init__(self, tasks: TaskRegistry):
        self.tasks = tasks
        self.jobs: dict[str, Job] = {}

    def interval(self, job_id: str, *, task: str, seconds: int = 0, minutes: int = 0, hours: int = 0, **kw: Any) -> Job:
        """Every N seconds/minutes/hours enqueue ``task``. Re-adding an id replaces the job."""
        total = seconds + 60 * minutes + 3600 * hours
        if total <= 0:
            raise ValueError(f"job {job_id}: interval must be positive")
        job = Job(id=job_id, task=task, trigger="interval", seconds=total, args=kw.pop("args", {}), **kw)
        self.jobs[job_id] = job
        return job

    def cron(self, job_id: str, *, task: str, hour: int, minute: int = 0, **kw: Any) -> Job:
        """Every day at ``hour:minute`` (scheduler timezone) enqueue ``task``."""
        job = Job(id=job_id, task=task, trigger="cron", hour=hour, minute=minute, args=kw.pop("args", {}), **kw)
        self.jobs[job_id] = job
        return job

    def remove(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def task(self, kind: str) -> Callable[[Handler], Handler]:
        """Register the handler for a task kind (decorator)."""
        return self.tasks.handler(kind)


def enqueue_tick(runtime: Runtime, job: Job, now: datetime | None = None) -> int | None:
    """Enqueue the task for the tick of ``job`` that fires now; ``None`` if this tick was already enqueued."""
    scheduled_for = job.tick(now or datetime.now(UTC))
    try:
        with runtime.db.session() as session:
            if session.scalar(select(JobRun.id).where(JobRun.job_id == job.id, JobRun.scheduled_for == scheduled_for)):
                return None
            task_id = runtime.queue.enqueue(
                job.task, dict(job.args), session=session, idempotency_key=f"job:{job.id}:{scheduled_for.isoformat()}"
            )
            session.add(JobRun(job_id=job.id, scheduled_for=scheduled_for, task_id=task_id))
    except IntegrityError:
        return None
    runtime.queue.notify()
    return task_id


class Scheduler:
    """Runs the registry's jobs on an APScheduler ``BackgroundScheduler`` and keeps per-connection jobs current."""

    def __init__(self, runtime: Runtime, *, extra_jobs: list[Job] | None = None):
        self.runtime = runtime
        #: Jobs of this scheduler process only (the cluster's liveness tick), kept across refreshes.
        self.extra_jobs = {job.id: job for job in extra_jobs or []}
        cfg = runtime.config.scheduler
        self._heartbeat: Heartbeat | None = None  # only while started: a standby is no scheduler
        self._aps = BackgroundScheduler(
            timezone=cfg.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": cfg.misfire_grace_seconds},
        )

    def _schedule(self, job: Job) -> None:
        trigger = (
            IntervalTrigger(seconds=job.seconds, timezone=UTC)
            if job.trigger == "interval"
            else CronTrigger(hour=job.hour, minute=job.minute, timezone=self.runtime.config.scheduler.timezone)
        )
        self._aps.add_job(
            enqueue_tick,
            trigger,
            args=(self.runtime, job),
            id=job.id,
            name=job.description or job.id,
            replace_existing=True,
        )

    def refresh(self) -> None:
        """Bring APScheduler's jobs in line with the registry (connections added or removed)."""
        self.runtime.refresh_jobs()
        wanted = {**self.runtime.jobs.jobs, **self.extra_jobs}
        for aps_job in self._aps.get_jobs():
            if aps_job.id not in wanted and aps_job.id != "connector.scheduler.refresh":
                aps_job.remove()
        for job in wanted.values():
            existing = self._aps.get_job(job.id)
            if existing is None or existing.args[1] != job:
                self._schedule(job)

    def start(self) -> None:
        self.refresh()
        self._aps.add_job(
            self.refresh, IntervalTrigger(seconds=60), id="connector.scheduler.refresh", replace_existing=True
        )
        self._aps.start()
        self._heartbeat = Heartbeat(self.runtime, "scheduler")
        self._heartbeat.start()
        log.info("scheduler started with %d jobs", len(self.runtime.jobs.jobs) + len(self.extra_jobs))

    def stop(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._aps.get_jobs()}


def next_tick_after(job: Job, now: datetime) -> datetime:
    """When ``job`` fires next after ``now`` (for the jobs page when no scheduler runs in this process)."""
    if job.trigger == "interval":
        return job.tick(now) + timedelta(seconds=job.seconds)
    candidate = now.replace(hour=job.hour, minute=job.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)
