"""Observability: Prometheus ``/metrics``, and structured JSON logs with a request id and no secrets.

* :func:`install` (called by the dashboard plugin while the web app is built) gives every request an id
  (``X-Request-ID`` from the client or a fresh one; echoed in the response and put on every log record of
  the request) and mounts ``/metrics``.
* The metrics are read from the database at scrape time (:class:`ConnectorCollector`): sync runs by
  status, webhooks by status, messages by state, queue depth by status, and platform errors by platform.
  Reading at scrape time makes them correct for every process (web, workers) without shared state.
* :func:`configure_logging` switches the root logger to one JSON object per line when
  ``[logging] json = true``; :class:`RedactingFilter` masks tokens, secrets and passwords in every record.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from connector.api.auth import require_bearer
from connector.db.models import ChannelConnection, OutboundMessage, ShopConnection, SyncRun, Task, WebhookEvent
from connector.webhooks import refusals

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
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
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
    if config.logging.json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))


# --------------------------------------------------------------------------- metrics


class ConnectorCollector:
    """Prometheus collector reading the connector's state from the database at each scrape."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Yield the metric families (see the module docstring)."""
        with self.runtime.db.session() as session:
            syncs = GaugeMetricFamily("connector_sync_runs", "Catalog sync runs by status", labels=["status"])
            for status, count in session.execute(select(SyncRun.status, func.count()).group_by(SyncRun.status)):
                syncs.add_metric([status], count)
            yield syncs
            hooks = GaugeMetricFamily(
                "connector_webhooks", "Webhooks received, by adapter and status", labels=["adapter", "status"]
            )
            for adapter, status, count in session.execute(
                select(WebhookEvent.adapter, WebhookEvent.status, func.count()).group_by(
                    WebhookEvent.adapter, WebhookEvent.status
                )
            ):
                hooks.add_metric([adapter, status], count)
            yield hooks
            duplicates = GaugeMetricFamily(
                "connector_webhook_duplicates", "Redelivered webhooks answered as duplicates"
            )
            duplicates.add_metric([], session.scalar(select(func.coalesce(func.sum(WebhookEvent.duplicates), 0))) or 0)
            yield duplicates
            refused = CounterMetricFamily(
                "connector_webhooks_refused",
                "Webhook deliveries refused by this process, by adapter and reason (replay, signature, invalid)",
                labels=["adapter", "reason"],
            )
            for (adapter, reason), count in sorted(refusals.counts().items()):
                refused.add_metric([adapter, reason], count)
            yield refused
            messages = GaugeMetricFamily(
                "connector_messages", "Outbox messages by channel and state", labels=["channel", "state"]
            )
            for channel, status, count in session.execute(
                select(ChannelConnection.channel, OutboundMessage.status, func.count())
                .join(ChannelConnection, ChannelConnection.id == OutboundMessage.channel_connection_id)
                .group_by(ChannelConnection.channel, OutboundMessage.status)
            ):
                messages.add_metric([channel, status], count)
            yield messages
            queue = GaugeMetricFamily("connector_queue_tasks", "Tasks in the queue by status", labels=["status"])
            for status, count in session.execute(select(Task.status, func.count()).group_by(Task.status)):
                queue.add_metric([status], count)
            yield queue
            errors = GaugeMetricFamily(
                "connector_platform_errors",
                "Failures reported by a platform: failed sync runs (shops), failed messages (channels), "
                "failed webhook processing (both)",
                labels=["platform", "source"],
            )
            for platform, count in session.execute(
                select(ShopConnection.platform, func.count())
                .join(SyncRun, SyncRun.shop_connection_id == ShopConnection.id)
                .where(SyncRun.status == "failed")
                .group_by(ShopConnection.platform)
            ):
                errors.add_metric([platform, "sync"], count)
            for channel, count in session.execute(
                select(ChannelConnection.channel, func.count())
                .join(OutboundMessage, OutboundMessage.channel_connection_id == ChannelConnection.id)
                .where(OutboundMessage.status == "failed")
                .group_by(ChannelConnection.channel)
            ):
                errors.add_metric([channel, "send"], count)
            for adapter, count in session.execute(
                select(WebhookEvent.adapter, func.count())
                .where(WebhookEvent.status == "failed")
                .group_by(WebhookEvent.adapter)
            ):
                errors.add_metric([adapter, "webhook"], count)
            yield errors


def install(app: Flask, runtime: Runtime, *, metrics: bool = True, metrics_public: bool = False) -> list[Blueprint]:
    """Give every request an id (logged and echoed); return the ``/metrics`` blueprint to mount (if ``metrics``):
    it asks for an API bearer token (``read`` scope is enough) unless ``metrics_public``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConnectorCollector(runtime))  # type: ignore[arg-type]
    app.extensions["connector_metrics"] = registry

    @app.before_request
    def _request_id() -> None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers.setdefault(REQUEST_ID_HEADER, g.get("request_id", ""))
        return response

    if not metrics:
        return []
    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    def metrics_view() -> Response | tuple[Response, int]:
        """Prometheus text exposition of the connector's state (shop and channel names, volumes, errors)."""
        if not metrics_public:
            refused = require_bearer(runtime, all_shops="metrics span all shops")
            if refused is not None:
                return refused
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return [bp]
