"""The relay: publishes the ids of due tasks to the broker, fairly across tenants.

The ``tasks`` table stays the truth (an outbox); the broker only carries task ids. One pass:

1. count the tasks in flight (``queued`` or ``running`` with a live lease) per tenant group;
2. pick due tasks round-robin across groups (``row_number() OVER (PARTITION BY group)``), at most
   ``tenant_in_flight`` in flight per group and ``max_in_flight`` overall;
3. lock them with ``FOR UPDATE SKIP LOCKED`` (several relays never pick the same row), mark them
   ``queued`` with a lease of ``requeue_after_seconds``, commit;
4. publish their ids (after the commit: no transaction is held across network I/O).

A task whose message is lost (broker restart, publish failure) or whose worker died (lease ran out)
is due again and gets published again; a worker claims by id atomically, so a duplicate message runs
nothing. Because only a bounded window is in flight, a shop with 100,000 due sends occupies at most
``tenant_in_flight`` worker slots while every other shop's tasks go out in the next pass.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from connector.cluster.settings import ClusterSettings
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

Publisher = Callable[[list[int]], None]

_GROUP = "coalesce(g.group_key, t.kind)"
_REQUEUABLE = "(t.status = 'pending' OR (t.status IN ('queued', 'running') AND t.lease_until < :now))"

_IN_FLIGHT = text(f"""
SELECT {_GROUP} AS grp, count(*) FROM tasks t LEFT JOIN task_groups g ON g.task_id = t.id
WHERE t.status IN ('queued', 'running') AND t.lease_until >= :now
GROUP BY 1
""")

_CANDIDATES = text(f"""
SELECT id, grp FROM (
    SELECT t.id, {_GROUP} AS grp, t.priority, t.due_at,
           row_number() OVER (PARTITION BY {_GROUP} ORDER BY t.priority, t.due_at, t.id) AS rn
    FROM tasks t LEFT JOIN task_groups g ON g.task_id = t.id
    WHERE t.due_at <= :now AND {_REQUEUABLE}
) c
WHERE rn <= :per_group
ORDER BY rn, priority, due_at, id
LIMIT :scan
""")

_LOCK_AND_MARK = text(f"""
UPDATE tasks SET status = 'queued', lease_until = :lease_until
WHERE id IN (
    SELECT t.id FROM tasks t WHERE t.id = ANY(:ids) AND t.due_at <= :now AND {_REQUEUABLE}
    FOR UPDATE SKIP LOCKED
)
RETURNING id
""")

_UNQUEUE = text("UPDATE tasks SET status = 'pending', lease_until = NULL WHERE id = ANY(:ids) AND status = 'queued'")


def select_fair(
    candidates: list[tuple[int, str]], in_flight: dict[str, int], *, budget: int, per_group: int
) -> list[int]:
    """Pick task ids from ``candidates`` (already in round-robin order) within the per-group and total caps."""
    taken: dict[str, int] = defaultdict(int)
    chosen: list[int] = []
    for task_id, group in candidates:
        if len(chosen) >= budget:
            break
        if in_flight.get(group, 0) + taken[group] >= per_group:
            continue
        taken[group] += 1
        chosen.append(task_id)
    return chosen


def publish_due(runtime: Runtime, settings: ClusterSettings, publish: Publisher) -> int:
    """One relay pass; returns how many task ids were published."""
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        in_flight = {grp: count for grp, count in session.execute(_IN_FLIGHT, {"now": now}).all()}
        budget = settings.max_in_flight - sum(in_flight.values())
        if budget <= 0:
            return 0
        candidates = [
            (row[0], row[1])
            for row in session.execute(
                _CANDIDATES, {"now": now, "per_group": settings.tenant_in_flight, "scan": budget * 4}
            ).all()
        ]
        ids = select_fair(candidates, in_flight, budget=budget, per_group=settings.tenant_in_flight)
        if not ids:
            return 0
        lease_until = now + timedelta(seconds=settings.requeue_after_seconds)
        marked = list(session.scalars(_LOCK_AND_MARK, {"ids": ids, "now": now, "lease_until": lease_until}))
    if not marked:
        return 0
    order = {task_id: i for i, task_id in enumerate(ids)}
    marked.sort(key=order.__getitem__)
    try:
        publish(marked)
    except Exception:
        # Hand them back at once instead of waiting for the lease; whatever was published is claimed anyway.
        log.exception("publishing %d task ids failed; they go back to pending", len(marked))
        with runtime.db.session() as session:
            session.execute(_UNQUEUE, {"ids": marked})
        raise
    return len(marked)


class RelayThread:
    """Runs :func:`publish_due` every ``relay_interval`` seconds (at once again after a full pass) until stopped."""

    def __init__(self, runtime: Runtime, settings: ClusterSettings, publish: Publisher, *, name: str = "relay"):
        self.runtime = runtime
        self.settings = settings
        self.publish = publish
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.published = 0

    def start(self) -> None:
        """Start publishing in a background thread."""
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        """Stop after the current pass."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                count = publish_due(self.runtime, self.settings, self.publish)
            except Exception:  # the database or the broker went away for a moment: log, wait, try again
                log.exception("relay pass failed")
                count = 0
                self._stop.wait(self.settings.relay_interval * 10)
            self.published += count
            if count < self.settings.max_in_flight // 2:
                self._stop.wait(self.settings.relay_interval)
