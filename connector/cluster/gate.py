"""The global rate-limit gate in front of ``message.send`` in distributed workers.

Before a send task runs, the worker takes one permit for the message's phone number
(``phone:<channel connection id>``) and one for its shop (``shop:<id>``) from Redis. A permit that is
not available within ``max_sleep`` seconds is not waited for in the thread: the task goes back to
``pending``, due when the budget allows, without counting as an attempt. The budgets are therefore
global, whatever the number of worker processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from connector.db.models import ChannelConnection, OutboundMessage

if TYPE_CHECKING:
    from connector.cluster.redis_limits import RedisRateLimiter
    from connector.cluster.settings import ClusterSettings
    from connector.runtime import Runtime
    from connector.work.queue import ClaimedTask


class SendGate:
    """Decides whether a claimed ``message.send`` may run now, and if not, how long it must wait."""

    def __init__(self, limiter: RedisRateLimiter, settings: ClusterSettings, *, max_sleep: float = 0.5):
        self.limiter = limiter
        self.settings = settings
        self.max_sleep = max_sleep
        self._shops: dict[int, int] = {}

    @property
    def active(self) -> bool:
        """Whether any budget is configured."""
        return bool(self.settings.phone_messages_per_second or self.settings.shop_messages_per_second)

    def _keys(self, runtime: Runtime, message_id: int) -> list[tuple[str, float]]:
        with runtime.db.session() as session:
            channel = session.scalar(
                select(OutboundMessage.channel_connection_id).where(OutboundMessage.id == message_id)
            )
            if channel is None:
                return []
            if channel not in self._shops:
                self._shops[channel] = session.scalar(
                    select(ChannelConnection.shop_connection_id).where(ChannelConnection.id == channel)
                )
        keys: list[tuple[str, float]] = []
        if self.settings.phone_messages_per_second:
            keys.append((f"phone:{channel}", self.settings.phone_messages_per_second))
        if self.settings.shop_messages_per_second:
            keys.append((f"shop:{self._shops[channel]}", self.settings.shop_messages_per_second))
        return keys

    def delay_for(self, runtime: Runtime, task: ClaimedTask) -> float:
        """0.0 when the task may run now (permits taken); else seconds until it should be tried again."""
        if not self.active or task.kind != "message.send" or not isinstance(task.args.get("message_id"), int):
            return 0.0
        import time

        for key, rate in self._keys(runtime, task.args["message_id"]):
            while True:
                delay = self.limiter.acquire(key, rate)
                if delay <= 0:
                    break
                if delay > self.max_sleep:
                    return delay
                time.sleep(delay)
        return 0.0
