"""Observability: Prometheus ``/metrics``, and structured JSON logs with a request id and no secrets.

* :func:`install` (called by the dashboard plugin while the web app is built) gives every request an id
  (``X-Request-ID`` from the client or a fresh one; echoed in the response and put on every log record of
  the request) and mounts ``/metrics``.
* The metrics are read from the database at scrape time (:class:`ConnectorCollector`): sync runs and items
  pushed, webhooks received by platform and outcome, messages sent and failed by channel and kind, queue depth,
  platform errors, and histograms of webhook handling and send latency (bucketed in SQL). Reading at scrape
  time makes them correct for every process (web, workers) without shared state. Process and build-info
  metrics describe the scraped web process. docs/operations.md lists every metric.
* :func:`configure_logging` switches the root logger to one JSON object per line when
  ``[logging] format = "json"`` (every ``extra=`` field becomes a key); :class:`RedactingFilter` masks tokens, secrets and passwords in every record.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from platform import python_version
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Flask, Response, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from connector import __version__
from connector.api.auth import require_bearer
from connector.db.models import ChannelConnection, OutboundMessage, ShopConnection, SyncRun, Task, WebhookEvent
from connector.webhooks import meta_app, refusals

if TYPE_CHECKING:
    from connector.config import Config
    from connector.runtime import Runtime

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

# --------------------------------------------------------------------------- secrets never logged

_SECRET_PATTERNS = (
    # HTTP authorization values first, so "Authorization: Bearer <token>" masks the token itself
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=\-]+)"),
    re.compile(r"(?i)(basic\s+)([A-Za-z0-9+/=]{8,})"),
    # key=value and "key": "value" forms of anything named like a credential
    re.compile(
        r"(?i)((?:access_token|token|secret|password|passwd|api_key|apikey|consumer_key|consumer_secret|client_secret|"
        r"verify_token|app_secret)[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,}]+)"
    ),
)


def redact(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message (after formatting its arguments) and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log it as it is
            return True
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``record.request_id``; never drops it."""
        record.request_id = g.get("request_id", "-") if has_request_context() else current_request_id.get()
        return True


#: The request id outside a Flask request context: webhook deliveries (:mod:`connector.webhooks.wsgi`).
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


def valid_request_id(sent: str) -> bool:
    """Whether a caller's ``X-Request-ID`` is used as is (else a fresh one is made)."""
    return bool(_REQUEST_ID.match(sent))


#: Attributes every LogRecord has; anything else on a record came from ``extra=`` (or a filter) and is logged.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _jsonable(value: Any) -> Any:
    """``value`` if JSON can carry it as is, else its ``str`` (an extra field never breaks a log line)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, every ``extra=`` field, and the
    exception if any. Extra string values are redacted like the message."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in data and not key.startswith("_"):
                data[key] = redact(value) if isinstance(value, str) else _jsonable(value)
        if record.exc_info:
            data["exception"] = record.exc_text or self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


def configure_logging(config: Config) -> None:
    """Set up the root logger from ``[logging]``: level, JSON lines if asked, request ids and redaction always."""
    root = logging.getLogger()
    root.setLevel(config.logging.level)
    handler = next((h for h in root.handlers if getattr(h, "_connector", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._connector = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.filters = [RequestIdFilter(), RedactingFilter()]
    if config.logging.as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))


# --------------------------------------------------------------------------- metrics


#: Histogram buckets (seconds) of webhook handling and send latency: sub-second to an hour (a retried send).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


def _seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    """SQL for ``end - start`` in seconds on SQLite and PostgreSQL."""
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(ColumnElement[float], func.extract("epoch", end - start))


def _histogram(
    session: Session, name: str, documentation: str, label: str, key: Any, seconds: ColumnElement[float], *where: Any
) -> HistogramMetricFamily:
    """A histogram of ``seconds`` per ``key`` over the rows matching ``where``, bucketed in SQL (one query)."""
    family = HistogramMetricFamily(name, documentation, labels=[label])
    columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS]
    query = select(key, func.count(), func.coalesce(func.sum(seconds), 0.0), *columns).where(*where).group_by(key)
    for row in session.execute(query):
        value, count, total, cumulative = row[0], row[1], row[2], row[3:]
        buckets = [(str(bound), n or 0) for bound, n in zip(LATENCY_BUCKETS, cumulative, strict=True)]
        family.add_metric([value], [*buckets, ("+Inf", count)], max(float(total), 0.0))
    return family


class ConnectorCollector:
    """Prometheus collector reading the connector's state from the database at each scrape.

    Names follow Prometheus conventions: ``_total`` for counters, ``_seconds`` for durations, no unit-less
    gauges named like counters. Every metric is documented in docs/operations.md ("Metrics")."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (see docs/operations.md)."""
        dialect = self.runtime.db.engine.dialect.name
        with self.runtime.db.session() as session:
            yield from self._syncs(session)
            yield from self._webhooks(session, dialect)
            yield from self._messages(session, dialect)
            from connector.campaigns.attribution import metrics as sales_metrics

            yield from sales_metrics(session)
            queue = GaugeMetricFamily("connector_queue_tasks", "Tasks in the queue by status", labels=["status"])
            for status, count in session.execute(select(Task.status, func.count()).group_by(Task.status)):
                queue.add_metric([status], count)
            yield queue
            yield self._errors(session)

    def _syncs(self, session: Session) -> Iterator[Metric]:
        runs = CounterMetricFamily("connector_sync_runs", "Finished catalog sync runs by status", labels=["status"])
        running = GaugeMetricFamily("connector_sync_runs_in_progress", "Catalog sync runs in progress")
        in_progress = 0
        for status, count in session.execute(select(SyncRun.status, func.count()).group_by(SyncRun.status)):
            if status == "running":
                in_progress = count
            else:
                runs.add_metric([status], count)
        running.add_metric([], in_progress)
        yield runs
        yield running
        pushed = CounterMetricFamily(
            "connector_sync_items_pushed",
            "Catalog items a sync wrote to a channel catalog, by shop platform and change",
            labels=["platform", "change"],
        )
        sums = select(
            ShopConnection.platform,
            func.coalesce(func.sum(SyncRun.created), 0),
            func.coalesce(func.sum(SyncRun.updated), 0),
            func.coalesce(func.sum(SyncRun.deleted), 0),
        ).join(SyncRun, SyncRun.shop_connection_id == ShopConnection.id)
        for platform, created, updated, deleted in session.execute(sums.group_by(ShopConnection.platform)):
            for change, count in (("created", created), ("updated", updated), ("deleted", deleted)):
                pushed.add_metric([platform, change], count)
        yield pushed

    def _webhooks(self, session: Session, dialect: str) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "connector_webhooks_received",
            "Webhook deliveries accepted, by platform and outcome (received = not handled yet, processed, failed)",
            labels=["platform", "outcome"],
        )
        for adapter, status, count in session.execute(
            select(WebhookEvent.adapter, WebhookEvent.status, func.count()).group_by(
                WebhookEvent.adapter, WebhookEvent.status
            )
        ):
            received.add_metric([adapter, status], count)
        yield received
        duplicates = CounterMetricFamily("connector_webhook_duplicates", "Redelivered webhooks answered as duplicates")
        duplicates.add_metric([], session.scalar(select(func.coalesce(func.sum(WebhookEvent.duplicates), 0))) or 0)
        yield duplicates
        refused = CounterMetricFamily(
            "connector_webhooks_refused",
            "Webhook deliveries refused by this process, by platform and reason (replay, signature, invalid)",
            labels=["platform", "reason"],
        )
        for (adapter, reason), count in sorted(refusals.counts().items()):
            refused.add_metric([adapter, reason], count)
        yield refused
        unrouted = CounterMetricFamily(
            "connector_webhook_changes_unrouted",
            "Changes at the Meta app-level webhook URL for a number/account no connection owns (dropped), by object",
            labels=["object"],
        )
        for obj, count in sorted(meta_app.unrouted_counts().items()):
            unrouted.add_metric([obj], count)
        yield unrouted
        yield _histogram(
            session,
            "connector_webhook_handling_seconds",
            "Time from a webhook's receipt to the end of its processing, by platform",
            "platform",
            WebhookEvent.adapter,
            _seconds_between(WebhookEvent.received_at, WebhookEvent.processed_at, dialect),
            WebhookEvent.status == "processed",
            WebhookEvent.processed_at.is_not(None),
        )

    def _messages(self, session: Session, dialect: str) -> Iterator[Metric]:
        joined = (
            select(ChannelConnection.channel, OutboundMessage.kind, func.count())
            .join(ChannelConnection, ChannelConnection.id == OutboundMessage.channel_connection_id)
            .group_by(ChannelConnection.channel, OutboundMessage.kind)
        )
        sent = CounterMetricFamily(
            "connector_messages_sent", "Messages the channel accepted, by channel and kind", labels=["channel", "kind"]
        )
        for channel, kind, count in session.execute(joined.where(OutboundMessage.sent_at.is_not(None))):
            sent.add_metric([channel, kind], count)
        yield sent
        failed = CounterMetricFamily(
            "connector_messages_failed", "Messages given up on, by channel and kind", labels=["channel", "kind"]
        )
        for channel, kind, count in session.execute(joined.where(OutboundMessage.status == "failed")):
            failed.add_metric([channel, kind], count)
        yield failed
        states = GaugeMetricFamily(
            "connector_messages", "Outbox messages by channel and state", labels=["channel", "state"]
        )
        for channel, status, count in session.execute(
            select(ChannelConnection.channel, OutboundMessage.status, func.count())
            .join(ChannelConnection, ChannelConnection.id == OutboundMessage.channel_connection_id)
            .group_by(ChannelConnection.channel, OutboundMessage.status)
        ):
            states.add_metric([channel, status], count)
        yield states
        yield _histogram(
            session,
            "connector_message_send_latency_seconds",
            "Time from queueing a message to the channel accepting it, by channel (deliberately deferred ones excluded)",
            "channel",
            ChannelConnection.channel,
            _seconds_between(OutboundMessage.created_at, OutboundMessage.sent_at, dialect),
            ChannelConnection.id == OutboundMessage.channel_connection_id,
            OutboundMessage.sent_at.is_not(None),
            OutboundMessage.deferred_until.is_(None),
        )

    def _errors(self, session: Session) -> Metric:
        errors = CounterMetricFamily(
            "connector_platform_errors",
            "Failures reported by a platform: failed sync runs (shops), failed messages (channels), "
            "failed webhook processing (both)",
            labels=["platform", "source"],
        )
        failures = {
            "sync": select(ShopConnection.platform, func.count())
            .join(SyncRun, SyncRun.shop_connection_id == ShopConnection.id)
            .where(SyncRun.status == "failed")
            .group_by(ShopConnection.platform),
            "send": select(ChannelConnection.channel, func.count())
            .join(OutboundMessage, OutboundMessage.channel_connection_id == ChannelConnection.id)
            .where(OutboundMessage.status == "failed")
            .group_by(ChannelConnection.channel),
            "webhook": select(WebhookEvent.adapter, func.count())
            .where(WebhookEvent.status == "failed")
            .group_by(WebhookEvent.adapter),
        }
        for source, query in failures.items():
            for name, count in session.execute(query):
                errors.add_metric([name, source], count)
        return errors


def build_info() -> GaugeMetricFamily:
    """``connector_build_info``: always 1, labelled with the connector's and Python's versions."""
    info = GaugeMetricFamily(
        "connector_build_info", "The running connector's version and Python", labels=["version", "python"]
    )
    info.add_metric([__version__, python_version()], 1)
    return info


class _BuildInfoCollector:
    def collect(self) -> Iterator[Metric]:
        yield build_info()


def install(app: Flask, runtime: Runtime, *, metrics: bool = True, metrics_public: bool = False) -> list[Blueprint]:
    """Give every request an id (logged and echoed); return the ``/metrics`` blueprint to mount (if ``metrics``):
    it asks for an API bearer token (``read`` scope is enough) unless ``metrics_public``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConnectorCollector(runtime))
    registry.register(_BuildInfoCollector())
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ... (Linux)
    PlatformCollector(registry=registry)  # python_info
    app.extensions["connector_metrics"] = registry

    @app.before_request
    def _request_id() -> None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = sent if valid_request_id(sent) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers.setdefault(REQUEST_ID_HEADER, g.get("request_id", ""))
        return response

    if not metrics:
        return []
    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    def metrics_view() -> Response | tuple[Response, int, dict[str, str]]:
        """Prometheus text exposition of the connector's state (shop and channel names, volumes, errors)."""
        if not metrics_public:
            refused = require_bearer(runtime, all_shops="metrics span all shops")
            if refused is not None:
                return refused
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return [bp]
