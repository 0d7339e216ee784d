"""``connector cluster status``: who leads, what is queued (per lane), when the scheduler last ticked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, text

from connector.cluster.relay import BULK_SQL, bulk_params
from connector.db.models import JobRun

if TYPE_CHECKING:
    from connector.runtime import Runtime

_LANES = text(f"""
SELECT {BULK_SQL} AS bulk, t.status, count(*) FROM tasks t
WHERE t.status IN ('queued', 'running') OR (t.status = 'pending' AND t.due_at <= now())
GROUP BY 1, 2
""")


def cluster_status(runtime: Runtime) -> dict[str, Any]:
    """Leader PID (from ``pg_locks``), task counts by status, per lane (regular / bulk queue) the tasks due,
    queued and running, and the latest tick per job."""
    settings = runtime.config.cluster
    with runtime.db.session() as session:
        leader = session.scalar(
            text(
                "SELECT a.client_addr::text || ' backend ' || l.pid FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"
            ),
            {"k": settings.leader_lock_id},
        )
        lanes: dict[str, dict[str, Any]] = {
            name: {"queue": queue, "due": 0, "queued": 0, "running": 0}
            for name, queue in (("regular", settings.queue), ("bulk", settings.bulk_queue))
        }
        for bulk, status, count in cast(
            "Iterable[tuple[bool, str, int]]", session.execute(_LANES, bulk_params(settings))
        ):
            # "due": pending and due now, i.e. waiting for the relay (the lane's in-flight cap, or no worker).
            lanes["bulk" if bulk else "regular"]["due" if status == "pending" else status] = count
        # .all(): dict() would take the Result itself for a mapping (it has .keys()) and fail.
        ticks = dict(
            session.execute(select(JobRun.job_id, func.max(JobRun.scheduled_for)).group_by(JobRun.job_id)).all()
        )
    return {"leader": leader, "tasks": runtime.queue.counts(), "lanes": lanes, "last_ticks": ticks}
