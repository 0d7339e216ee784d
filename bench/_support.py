"""Shared pieces of the benchmarks: sandboxes in their own processes, a connector runtime, and reporting."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests


@dataclass
class SandboxProcess:
    """A sandbox run by ``connector sandbox NAME --json`` in a child process (so its memory and CPU are its own)."""

    name: str
    variants: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    url: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def start(self, timeout: float = 600) -> SandboxProcess:
        cmd = [sys.executable, "-m", "connector", "sandbox", self.name, "--json"]
        if self.variants is not None:
            cmd += ["--variants", str(self.variants)]
        for key, value in self.options.items():
            cmd += ["--option", f"{key}={json.dumps(value)}"]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = self.process.stdout.readline()
        if not line or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox {self.name} did not start")
        info = json.loads(line)
        self.url, self.settings = info["url"], info["settings"]
        return self

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox/{path}", timeout=120, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the sandbox process has used so far."""
        assert self.process is not None
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
    }


def temp_runtime(**sections: Any) -> tuple[Any, tempfile.TemporaryDirectory[str]]:
    """A connector runtime on a fresh SQLite database in a temporary folder."""
    from connector.config import generate_secrets, load_config
    from connector.db.migrate import upgrade
    from connector.runtime import Runtime

    folder = tempfile.TemporaryDirectory(prefix="connector-bench-")
    secrets = generate_secrets()
    overrides: dict[str, Any] = {
        "database": {"url": f"sqlite:///{Path(folder.name) / 'bench.db'}"},
        "security": {"secret_key": secrets["secret_key"], "encryption_keys": [secrets["encryption_key"]]},
        "scheduler": {"enabled": False},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    rt = Runtime(load_config(overrides=overrides))
    upgrade(rt.db)
    return rt, folder


def offline_channel(rt: Any) -> tuple[int, int]:
    """A shop and a WhatsApp number that no sandbox answers (for benchmarks that only read the database): their ids."""
    from connector.db.models import ShopConnection

    with rt.db.session() as session:
        shop = ShopConnection(name="Bench shop", platform="woocommerce", settings={})
        session.add(shop)
        session.flush()
        shop_id = shop.id
    channel = rt.connections.create_channel(
        shop_connection_id=shop_id, name="Bench number", channel="whatsapp",
        settings={"phone_number_id": "1", "access_token": "x", "app_secret": "x", "verify_token": "x"},
    )  # fmt: skip
    return shop_id, channel.id


def fields_for(adapter_cls: Any, offered: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in adapter_cls.config_fields}
    return {k: v for k, v in offered.items() if k in names}


def connect(rt: Any, platform: str, shop: SandboxProcess, graph: SandboxProcess) -> tuple[Any, Any]:
    """A shop connection to ``shop`` and a WhatsApp channel on ``graph`` whose webhooks come to the connector."""
    shop_row = rt.connections.create_shop(
        name="bench", platform=platform, settings=fields_for(rt.plugins.shop_adapters[platform], shop.settings)
    )
    channel = rt.connections.create_channel(
        shop_connection_id=shop_row.id,
        name="bench",
        channel="whatsapp",
        settings=fields_for(rt.plugins.channel_adapters["whatsapp"], graph.settings),
    )
    graph.control(
        "POST",
        "webhooks",
        json={
            "url": rt.connections.webhook_url("whatsapp", channel.id),
            "object": "whatsapp_business_account",
            "verify_token": graph.settings["verify_token"],
        },
    )
    return shop_row, channel


def report(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    """The JSON object on stdout (with --json), the readable summary on stderr."""
    for line in lines:
        print(line, file=sys.stderr)
    if as_json:
        print(json.dumps(result))


class ThreadProfiles:
    """cProfile in every thread started from now on (a server's, a worker's), merged at the end:
    ``--profile FILE`` writes the connector's profile of the whole run (pstats format)."""

    def __init__(self, *, cpu: bool = False) -> None:
        """``cpu``: time each thread's CPU (``time.thread_time``) instead of the wall clock, so waits for locks, the
        disk and the GIL (most of the wall time on a loaded machine) drop out."""
        import cProfile

        self.profiles: list[cProfile.Profile] = []

        def start(*_: Any) -> None:
            profile = cProfile.Profile(time.thread_time) if cpu else cProfile.Profile()
            self.profiles.append(profile)
            profile.enable()  # replaces this hook in the new thread

        threading.setprofile(start)

    def dump(self, path: str) -> None:
        import pstats

        threading.setprofile(None)  # type: ignore[arg-type]  # None removes the hook
        stats = pstats.Stats(*self.profiles, stream=sys.stderr)  # stdout may be the benchmark's JSON
        stats.dump_stats(path)
        stats.sort_stats("tottime").print_stats(30)
