"""How the notify subsystem finds its :class:`~connector.runtime.Runtime` from an event hook.

Event hooks get no runtime argument. Core code that fires one always holds its runtime (``rt``, ``self.runtime``
or a :class:`~connector.work.registry.TaskContext`) somewhere up the call stack, so :func:`current` looks there
first; the notify task handlers also set it explicitly. As a last resort (a hook fired from code holding no
runtime) it falls back to the runtime built most recently in this process, recorded when the runtime
called ``connector_register_jobs``.
"""

from __future__ import annotations

import contextvars
import sys
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.runtime import Runtime
    from connector.work.scheduler import JobRegistry

_current: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar("notify_runtime", default=None)
_latest: weakref.ReferenceType[Any] | None = None


def _as_runtime(value: object) -> Runtime | None:
    from connector.runtime import Runtime
    from connector.work.registry import TaskContext

    if isinstance(value, Runtime):
        return value
    if isinstance(value, TaskContext):
        return value.runtime
    owner = getattr(value, "runtime", None) if value is not None and not isinstance(value, type) else None
    return owner if isinstance(owner, Runtime) else None


def bind(jobs: JobRegistry) -> Runtime | None:
    """Remember (and return) the runtime registering ``jobs`` (called from ``connector_register_jobs``)."""
    global _latest
    frame = sys._getframe(1)
    while frame is not None:
        candidate = _as_runtime(frame.f_locals.get("self"))
        if candidate is not None and getattr(candidate, "jobs", None) is jobs:
            _latest = weakref.ref(candidate)
            return candidate
        frame = frame.f_back  # type: ignore[assignment]
    return None


def use(rt: Runtime) -> contextvars.Token[Runtime | None]:
    """Make ``rt`` the current runtime of this thread/context (task handlers); undo with :func:`reset`."""
    return _current.set(rt)


def reset(token: contextvars.Token[Runtime | None]) -> None:
    _current.reset(token)


def current() -> Runtime:
    """The runtime of the code that fired the hook being handled."""
    rt = _current.get()
    if rt is not None:
        return rt
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("rt", "runtime", "ctx", "self"):
            found = _as_runtime(frame.f_locals.get(name))
            if found is not None:
                return found
        frame = frame.f_back  # type: ignore[assignment]
    latest = _latest() if _latest is not None else None
    if latest is None:
        raise RuntimeError("no connector runtime in this process")
    return latest
