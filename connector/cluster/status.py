"""``connector cluster status``: who leads, what is queued, when the scheduler last ticked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from connector.db.models import JobRun

if TYPE_CHECKING:
    from connector.runtime import Runtime


def cluster_status(runtime: Runtime) -> dict[str, Any]:
    """Leader PID (from ``pg_locks``), task counts by status, and the latest tick per job."""
    lock_id = runtime.config.cluster.leader_lock_id
    with runtime.db.session() as session:
        leader = session.scalar(
            text(
                "SELECT a.client_addr::text || ' backend ' || l.pid FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"
            ),
            {"k": lock_id},
        )
        ticks = dict(session.execute(select(JobRun.job_id, func.max(JobRun.scheduled_for)).group_by(JobRun.job_id)))
    return {"leader": leader, "tasks": runtime.queue.counts(), "last_ticks": ticks}
