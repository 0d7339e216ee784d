"""Scheduled jobs: per-connection sync intervals, and each tick enqueued once however many schedulers fire it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from connector.db.models import JobRun, Task
from connector.runtime import Runtime
from connector.work.scheduler import enqueue_tick
from tests.conftest import Stack


def test_each_shop_gets_its_own_delta_and_full_sync_jobs_with_its_intervals(quiet_stack: Stack) -> None:
    rt = quiet_stack.runtime
    other = rt.connections.create_shop(
        name="Fast shop",
        platform="woocommerce",
        settings=rt.connections.settings_of(rt.connections.get_shop(quiet_stack.shop_id)),
        delta_interval_minutes=15,
        full_sync_at="02:30",
    )
    rt.refresh_jobs()
    jobs = rt.jobs.jobs
    assert jobs[f"sync.delta.{quiet_stack.shop_id}"].seconds == 60 * 60  # the config default
    assert jobs[f"sync.delta.{other.id}"].seconds == 15 * 60
    assert (jobs[f"sync.full.{other.id}"].hour, jobs[f"sync.full.{other.id}"].minute) == (2, 30)
    assert jobs[f"sync.full.{other.id}"].args == {"shop_connection_id": other.id, "mode": "full", "trigger": "schedule"}
    assert "housekeeping.prune_webhooks" in jobs  # plugins' jobs sit next to them


def test_a_tick_is_enqueued_once_even_when_two_schedulers_fire_it(runtime: Runtime) -> None:
    job = runtime.jobs.jobs["housekeeping.recover_messages"]
    now = datetime(2026, 11, 22, 10, 3, 12, tzinfo=UTC)
    assert enqueue_tick(runtime, job, now) is not None
    assert enqueue_tick(runtime, job, now.replace(second=40)) is None  # same 5-minute tick, second scheduler
    assert enqueue_tick(runtime, job, now.replace(minute=8)) is not None  # the next tick
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 2
        assert session.scalar(select(func.count()).select_from(Task).where(Task.kind == job.task)) == 2


def test_scheduled_sync_runs_through_the_worker(quiet_stack: Stack) -> None:
    from tests.conftest import wait_for

    rt = quiet_stack.runtime
    rt.refresh_jobs()
    enqueue_tick(rt, rt.jobs.jobs[f"sync.full.{quiet_stack.shop_id}"])
    wait_for(lambda: len(quiet_stack.catalog()) > 100)
