"""Task handlers by kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.runtime import Runtime
    from connector.work.queue import ClaimedTask


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a handler gets besides its arguments: the runtime (database, plugins, queue...) and the task row."""

    runtime: Runtime
    task: ClaimedTask

    def extend_lease(self) -> None:
        """Renew the task's lease now. The runtime's queue renews it with its heartbeat anyway; a queue built
        without one needs this during long work so no other worker takes the task over."""
        self.runtime.queue.extend_lease(self.task.id)


Handler = Callable[..., Any]


class TaskRegistry:
    """Maps a task kind (``catalog.sync``) to the function that does it: ``handler(ctx, **args)``."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers and self._handlers[kind] is not handler:
            raise ValueError(f"task kind {kind!r} is registered twice")
        self._handlers[kind] = handler

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`."""

        def decorate(func: Handler) -> Handler:
            self.register(kind, func)
            return func

        return decorate

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._handlers)
