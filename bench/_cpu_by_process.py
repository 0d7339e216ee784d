"""CPU used by each kind of process on the machine over a window: ``CpuByProcess`` says where the cores went.

``bench scale`` runs a deployment as many processes (workers, the relay, PostgreSQL's backends, RabbitMQ, Redis,
the sandboxes) on the same cores. Its figure, two workers against one, is only explained by who used the CPU: a
worker process that cannot use more than one core (the GIL), or cores that are all busy. Processes are grouped by
what they are; a process that starts during the window counts from its start, one that ends during it is missed
(short-lived PostgreSQL backends).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import psutil

#: ``classify(name, command line)``: the group of a process not named by a group, or ``None``.
Classifier = Callable[[str, str], str | None]


def by_name(name: str, command: str) -> str | None:
    """The services every deployment has, by process name."""
    if name.startswith("postgres") or "postgres:" in command:
        return "postgres"
    if name == "beam.smp" or "rabbitmq" in command:
        return "rabbitmq"
    if name.startswith("redis"):
        return "redis"
    return None


class CpuByProcess:
    """``start()``, then ``cores()``: CPU seconds per group over the window, divided by its length."""

    def __init__(self, groups: dict[str, Callable[[], Iterable[int]]], classify: Classifier = by_name):
        """``groups``: for each named group, a function giving its process ids now; their children count too,
        unless an earlier group named them. Every other process on the machine is grouped by ``classify``, or not
        counted."""
        self.groups, self.classify = groups, classify
        self._start: dict[int, tuple[str, float]] = {}
        self._started_at = 0.0

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        named: dict[int, str] = {}
        for group, pids in self.groups.items():
            for pid in pids():
                try:
                    parent = psutil.Process(pid)
                    for process in [parent, *parent.children(recursive=True)]:
                        named.setdefault(process.pid, group)
                except psutil.NoSuchProcess:
                    continue
        found: dict[int, tuple[str, float]] = {}
        for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
            kind: str | None = named.get(process.pid)
            if kind is None:
                kind = self.classify(process.info["name"] or "", " ".join(process.info["cmdline"] or []))
            times = process.info["cpu_times"]
            if kind is not None and times is not None:
                found[process.pid] = (kind, times.user + times.system)
        return found

    def start(self) -> CpuByProcess:
        self._start, self._started_at = self._snapshot(), time.monotonic()
        return self

    def cores(self) -> dict[str, float]:
        """Cores used per group since :meth:`start` (1.0: one core busy all the time), the busiest first, and
        ``total``."""
        end, seconds = self._snapshot(), max(1e-6, time.monotonic() - self._started_at)
        used: dict[str, float] = {}
        for pid, (group, cpu) in end.items():
            before = self._start.get(pid)
            used[group] = used.get(group, 0.0) + cpu - (before[1] if before and before[0] == group else 0.0)
        cores = {g: round(s / seconds, 2) for g, s in sorted(used.items(), key=lambda kv: -kv[1]) if s > 0}
        return {**cores, "total": round(sum(used.values()) / seconds, 2)}
