"""A worker process SIGKILLed in the middle of a back-in-stock fan-out loses and duplicates nothing.

The worker runs alone in a subprocess; this process keeps the connector's web app (which stores the sandbox's
status webhooks while the worker is dead, as Meta's retries would reach a restarted connector). After the
restart, sends left ``sending`` become ``unknown`` and are settled by those status webhooks; only sends the
sandbox never accepted are sent again. The count comes from the Graph sandbox's own record.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.plugins import Plugins
from connector.sandbox.base import Sandbox

# The harness is the benchmark's (bench/_fanout_harness.py); the worker subprocess imports it the same way.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
harness = importlib.import_module("bench._fanout_harness")

SUBSCRIBERS = 400


@pytest.fixture
def graph(plugins: Plugins) -> Iterator[Sandbox]:
    sandbox = plugins.sandboxes()["graph"](options={"mps": 1000, "status_flow": ["sent", "delivered"]})
    sandbox.start()
    yield sandbox
    sandbox.stop()


def test_a_worker_killed_mid_fan_out_loses_and_duplicates_nothing(tmp_path: Path, graph: Sandbox) -> None:
    fan = harness.prepare(
        tmp_path,
        subscribers=SUBSCRIBERS,
        graph_url=graph.url,
        graph_settings=graph.connection_settings(),
        worker_threads=4,
        messages_per_second=150,
    )
    server = harness.start_webhook_receiver(fan)
    try:
        harness.start_wave(fan)
        fan.start_worker()
        assert fan.wait(lambda: fan.accepted() >= SUBSCRIBERS // 2, timeout=60), "the fan-out never got going"
        fan.kill_worker()
        killed_at = fan.accepted()
        assert killed_at < SUBSCRIBERS, "the kill came too late to test anything"

        fan.start_worker()
        assert fan.wait(fan.finished, timeout=120), f"not finished: {fan.outbox_counts()}"
        duplicates, lost = fan.count_deliveries()
        assert (duplicates, lost) == (0, 0)
        assert fan.accepted() == SUBSCRIBERS
        counts = fan.outbox_counts()
        assert sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == SUBSCRIBERS
    finally:
        fan.stop_worker()
        server.stop()
        fan.runtime.close()
