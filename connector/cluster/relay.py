"""The relay: publishes the ids of due tasks to the broker, fairly across tenants.

The ``tasks`` table stays the truth (an outbox); the broker only carries task ids. One pass:

1. count the tasks in flight (``queued`` or ``running`` with a live lease) per tenant group and lane;
2. per lane, pick due tasks round-robin across groups (``row_number() OVER (PARTITION BY group)``), each group's
   in the embedded queue's order (chat first, the rest aged by waiting: :mod:`connector.work.priorities`):
   regular tasks at most ``tenant_in_flight`` in flight per group and ``max_in_flight`` overall; bulk
   tasks (``cluster.bulk_tasks``: full syncs) at most one per group and ``bulk_in_flight`` overall;
3. lock them with ``FOR UPDATE SKIP LOCKED`` (several relays never pick the same row), mark them
   ``queued`` with a lease of ``requeue_after_seconds``, commit;
4. publish their ids, regular ones to ``cluster.queue`` and bulk ones to ``cluster.bulk_queue`` (after the
   commit: no transaction is held across network I/O).

The lanes are why a big shop's full sync does not slow the small shops down: it waits for and runs in
its own queue (consumed by a dedicated, niced bulk worker in a large deployment), and its own budget
keeps thousands of due nightly reconciles from taking the regular tasks' ``max_in_flight``.

A task whose message is lost (broker restart, publish failure) or whose worker died (lease ran out)
is due again and gets published again; a worker claims by id atomically, so a duplicate message runs
nothing. Because only a bounded window is in flight, a shop with 100,000 due sends occupies at most
``tenant_in_flight`` worker slots while every other shop's tasks go out in the next pass.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import text

from connector.work import priorities

if TYPE_CHECKING:
    from connector.cluster.settings import ClusterSettings
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

#: ``publish(task_ids, queue_name)``: send the ids to that broker queue.
Publisher = Callable[[list[int], str], None]

_GROUP = "coalesce(g.group_key, t.kind)"
_REQUEUABLE = "(t.status = 'pending' OR (t.status IN ('queued', 'running') AND t.lease_until < :now))"
#: Whether task ``t`` belongs to the bulk lane: its kind, or ``kind:mode``, is in ``:bulk_tasks`` (the setting).
#: ``:bulk_kinds`` (the kinds named there) guards the JSON lookup, so other tasks' arguments are never parsed.
BULK_SQL = (
    "(t.kind = ANY(:bulk_tasks) OR (t.kind = ANY(:bulk_kinds)"
    " AND (t.kind || ':' || coalesce(t.args ->> 'mode', '')) = ANY(:bulk_tasks)))"
)


def bulk_params(settings: ClusterSettings) -> dict[str, list[str]]:
    """The parameters :data:`BULK_SQL` needs."""
    tasks = list(settings.bulk_tasks)
    return {"bulk_tasks": tasks, "bulk_kinds": sorted({t.split(":", 1)[0] for t in tasks})}


_IN_FLIGHT = text(f"""
SELECT {_GROUP} AS grp, {BULK_SQL} AS bulk, count(*) FROM tasks t LEFT JOIN task_groups g ON g.task_id = t.id
WHERE t.status IN ('queued', 'running') AND t.lease_until >= :now
GROUP BY 1, 2
""")

#: The claim order of the embedded queue (:mod:`connector.work.priorities`): chat tasks first by priority and age,
#: then the rest by ``due_at + priority * :aging`` (their priority improved by one every ``:aging`` seconds waited).
_URGENCY = (
    "CASE WHEN t.priority <= :chat THEN 0 ELSE 1 END, CASE WHEN t.priority <= :chat THEN t.priority ELSE 0 END,"
    " extract(epoch FROM t.due_at)::float8 + CASE WHEN t.priority <= :chat THEN 0 ELSE t.priority * :aging END"
)

_CANDIDATES = text(f"""
SELECT id, grp FROM (
    SELECT t.id, {_GROUP} AS grp, row_number() OVER (PARTITION BY {_GROUP} ORDER BY {_URGENCY}, t.id) AS rn,
           row_number() OVER (ORDER BY {_URGENCY}, t.id) AS urgency
    FROM tasks t LEFT JOIN task_groups g ON g.task_id = t.id
    WHERE t.due_at <= :now AND {_REQUEUABLE} AND {BULK_SQL} = :bulk
) c
WHERE rn <= :per_group
ORDER BY rn, urgency
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


@dataclass(frozen=True, slots=True)
class Lane:
    """One broker queue and its caps: how many tasks may be in flight in total and per tenant group."""

    bulk: bool
    queue: str
    budget: int
    per_group: int


def lanes(settings: ClusterSettings) -> list[Lane]:
    """The regular lane, and the bulk lane when ``bulk_tasks`` names any task."""
    regular = Lane(False, settings.queue, settings.max_in_flight, settings.tenant_in_flight)
    if not settings.bulk_tasks:
        return [regular]
    # One bulk task per shop at a time: a shop's syncs exclude each other anyway, and the bulk slots are few.
    return [regular, Lane(True, settings.bulk_queue, settings.bulk_in_flight, 1)]


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
    """One relay pass over every lane; returns how many task ids were published."""
    now = datetime.now(UTC)
    lane_params = bulk_params(settings)
    chosen: list[tuple[Lane, list[int]]] = []
    with runtime.db.session() as session:
        in_flight: dict[bool, dict[str, int]] = {False: {}, True: {}}
        for grp, bulk, count in cast(
            "Iterable[tuple[str, bool, int]]", session.execute(_IN_FLIGHT, {"now": now, **lane_params})
        ):
            in_flight[bool(bulk)][grp] = count
        for lane in lanes(settings):
            budget = lane.budget - sum(in_flight[lane.bulk].values())
            if budget <= 0:
                continue
            params = {
                "now": now,
                **lane_params,
                "bulk": lane.bulk,
                "per_group": lane.per_group,
                "scan": budget * 4,
                "chat": priorities.CHAT,
                "aging": runtime.config.worker.priority_aging_seconds,
            }
            candidates = [(row[0], row[1]) for row in session.execute(_CANDIDATES, params).all()]
            ids = select_fair(candidates, in_flight[lane.bulk], budget=budget, per_group=lane.per_group)
            if ids:
                chosen.append((lane, ids))
        if not chosen:
            return 0
        lease_until = now + timedelta(seconds=settings.requeue_after_seconds)
        every = [task_id for _, ids in chosen for task_id in ids]
        marked = set(session.scalars(_LOCK_AND_MARK, {"ids": every, "now": now, "lease_until": lease_until}))
    published: list[int] = []
    try:
        for lane, ids in chosen:
            batch = [task_id for task_id in ids if task_id in marked]  # in round-robin order
            if batch:
                publish(batch, lane.queue)
                published += batch
    except Exception:
        # Hand the rest back at once instead of waiting for the lease; whatever was published is claimed anyway.
        done = set(published)
        rest = [task_id for task_id in marked if task_id not in done]
        log.exception("publishing %d task ids failed; they go back to pending", len(rest))
        with runtime.db.session() as session:
            session.execute(_UNQUEUE, {"ids": rest})
        raise
    return len(published)


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
