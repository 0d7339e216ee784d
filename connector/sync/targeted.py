"""Targeted catalog syncs (the products a shop webhook named), coalesced: one waiting sync per shop connection.

A burst of shop webhooks (a bulk price edit, an import) names the same few products thousands of times. Each
delivery adds its ids to the shop's waiting targeted sync, which carries their union; only once a worker has
claimed (and so read) it do new ids start the next one. See :meth:`connector.work.queue.TaskQueue.enqueue_coalesced`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from connector.work import priorities

if TYPE_CHECKING:
    from connector.runtime import Runtime

TASK = "catalog.sync"


def coalesce_key(shop_connection_id: int) -> str:
    """The key all waiting targeted syncs of one shop connection share."""
    return f"{TASK}:items:{shop_connection_id}"


def _union(waiting: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    ids = set(waiting.get("variant_ids") or ()) | set(new.get("variant_ids") or ())
    return {**waiting, "variant_ids": sorted(ids)}


def enqueue_targeted_sync(
    rt: Runtime, shop_connection_id: int, variant_ids: Iterable[str], *, trigger: str = "webhook", delay: float = 0
) -> int:
    """Sync these product/variant ids of a shop soon: added to the shop's waiting targeted sync, or a new one.

    Returns the task's id."""
    args = {
        "shop_connection_id": shop_connection_id,
        "mode": "items",
        "trigger": trigger,
        "variant_ids": sorted(set(variant_ids)),
    }
    return rt.queue.enqueue_coalesced(
        TASK, coalesce_key(shop_connection_id), args, _union, delay=delay, priority=priorities.TARGETED_SYNC
    )
