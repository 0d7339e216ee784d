"""Observability over real HTTP: Prometheus metrics by convention, ``/readyz`` next to ``/healthz``, JSON log lines
that keep ``extra=`` fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from connector import __version__
from connector.api.auth import create_token
from connector.chat.messages import send_test_message
from connector.db.migrate import downgrade, upgrade
from connector.db.models import OutboundMessage
from connector.observability import configure_logging
from connector.runtime import Runtime
from connector.server import EmbeddedServer
from connector.work.scheduler import Scheduler
from connector.work.worker import EmbeddedWorker
from tests.conftest import Stack, wait_for


def _scrape(url: str, runtime: Runtime) -> str:
    token = create_token(runtime, "prometheus", scope="read")
    response = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200
    return response.text


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, parsed as Prometheus does: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name{labels}`` in a scrape, or fail naming it."""
    samples = _samples(text)
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} not in the scrape"
    return samples[key]


def test_metrics_count_syncs_messages_and_webhooks_with_prometheus_names(stack: Stack) -> None:
    run = stack.full_sync()
    assert run.status == "succeeded"
    send_test_message(stack.runtime, stack.channel_id, "+49 170 00000001", template="hello_world")

    def sent() -> bool:
        with stack.runtime.db.session() as session:
            return bool(session.scalar(select(func.count()).where(OutboundMessage.sent_at.is_not(None))))

    assert wait_for(sent)
    stack.graph.customer_text(None, "4915199900011", "Hi")

    def scraped_with_the_webhook() -> str | None:
        text = _scrape(stack.url, stack.runtime)
        processed = (
            "connector_webhooks_received_total",
            frozenset({"platform": "whatsapp", "outcome": "processed"}.items()),
        )
        return text if processed in _samples(text) else None

    text = wait_for(scraped_with_the_webhook)
    with stack.runtime.db.session() as session:
        kind = session.scalar(select(OutboundMessage.kind).where(OutboundMessage.sent_at.is_not(None)))
    assert _value(text, "connector_messages_sent_total", channel="whatsapp", kind=str(kind)) == 1.0
    assert _value(text, "connector_sync_runs_total", status="succeeded") == 1.0
    assert _value(text, "connector_sync_items_pushed_total", platform="woocommerce", change="created") == run.created
    assert run.created > 0
    assert _value(text, "connector_webhooks_received_total", platform="whatsapp", outcome="processed") >= 1.0
    # histograms: every sent message falls in the +Inf bucket, and the count matches
    sent = sum(v for (name, labels), v in _samples(text).items() if name == "connector_messages_sent_total")
    assert _value(text, "connector_message_send_latency_seconds_bucket", channel="whatsapp", le="+Inf") == sent
    assert _value(text, "connector_message_send_latency_seconds_count", channel="whatsapp") == sent
    handled = _value(text, "connector_webhook_handling_seconds_count", platform="whatsapp")
    assert _value(text, "connector_webhook_handling_seconds_bucket", platform="whatsapp", le="+Inf") == handled >= 1
    types = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert types["connector_webhook_handling_seconds"] == "histogram"
    assert types["connector_platform_errors"] == types["connector_messages_failed"] == "counter"
    # process and build information
    info = [labels for (name, labels), _ in _samples(text).items() if name == "connector_build_info"]
    assert info and dict(info[0])["version"] == __version__
    assert "process_resident_memory_bytes " in text and "python_info{" in text


@pytest.fixture
def served(runtime: Runtime) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(runtime, port=0, scheduler=False, worker=False)
    server.start()
    yield server
    server.stop()


def test_readyz_names_the_missing_worker_and_scheduler_then_is_ready(served: EmbeddedServer, runtime: Runtime) -> None:
    waiting = requests.get(f"{served.url}/readyz", timeout=10)
    assert waiting.status_code == 503
    body = waiting.json()
    assert body["failing"] == ["worker", "scheduler"] and body["checks"]["database"]["ok"] is True
    assert "no worker has reported" in body["checks"]["worker"]["detail"]
    assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 200  # alive, just not ready

    worker, scheduler = EmbeddedWorker(runtime, threads=1), Scheduler(runtime)
    worker.start()
    scheduler.start()
    try:
        ready = requests.get(f"{served.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["failing"] == [] and all(c["ok"] for c in ready.json()["checks"].values())
    finally:
        scheduler.stop()
        worker.stop()
    gone = requests.get(f"{served.url}/readyz", timeout=10)  # a cleanly stopped worker no longer counts
    assert gone.status_code == 503 and gone.json()["failing"] == ["worker", "scheduler"]


def test_readyz_fails_on_a_schema_behind_the_alembic_head(served: EmbeddedServer, runtime: Runtime) -> None:
    downgrade(runtime.db, "-1")
    try:
        response = requests.get(f"{served.url}/readyz", timeout=10)
        assert response.status_code == 503
        assert "database" in response.json()["failing"]
        assert "connector migrate" in response.json()["checks"]["database"]["detail"]
    finally:
        upgrade(runtime.db)


def test_json_log_lines_keep_extra_fields(runtime: Runtime, capfd: pytest.CaptureFixture[str]) -> None:
    runtime.config.logging.format = "json"
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        configure_logging(runtime.config)
        logging.getLogger("connector.test").warning(
            "sync of shop %s slow", 7, extra={"shop_id": 7, "seconds": 12.5, "url": "https://x/?access_token=abc"}
        )
        line = json.loads(capfd.readouterr().err.strip().splitlines()[-1])
    finally:
        root.handlers[:], _ = before
        root.setLevel(before[1])
    assert line["message"] == "sync of shop 7 slow" and line["level"] == "WARNING"
    assert line["shop_id"] == 7 and line["seconds"] == 12.5
    assert "abc" not in line["url"]  # extra fields are redacted like the message
