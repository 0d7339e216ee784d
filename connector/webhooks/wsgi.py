"""Webhook deliveries served in front of Flask: ``POST /webhooks/<adapter>/<connection id>`` as plain WSGI.

A delivery needs none of what Flask builds around a request (the request and app contexts, the cookie session and
its signing serializer, URL matching over every dashboard route, the dashboard's and the API's request hooks, a
``Response`` object): in ``bench ingest`` that was a third of the CPU a delivery cost. This middleware answers the
deliveries it can with the same code and the same answers as the Flask view (:func:`connector.webhooks.routes.handle`):
same JSON bodies and statuses, the same security headers (:mod:`connector.web.headers`) and ``X-Request-ID``
(:mod:`connector.observability`, whose log records carry it here too).

Anything else goes to the Flask app unchanged: other methods (Meta's ``GET`` handshake), paths that are not exactly
an adapter the plugins provide and an id (a trailing slash, an id beyond 64 bits), a body without a
``Content-Length`` (chunked: the app's input stream applies the limit) or above ``[server] max_webhook_body_bytes``
(the app's 413 names the limit). A body shorter than its ``Content-Length`` (the client went away) is answered 400.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.sansio.utils import get_current_url
from werkzeug.wsgi import get_host

from connector.adapters import WebhookReply, WebhookRequest
from connector.observability import REQUEST_ID_HEADER, current_request_id, valid_request_id
from connector.web.converters import INT64_MAX
from connector.web.headers import SECURITY_HEADERS, demo_policy

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from connector.runtime import Runtime

log = logging.getLogger(__name__)

PREFIX = "/webhooks/"


class RequestHeaders(Mapping[str, str]):
    """A request's headers as a webhook sees them: names as werkzeug spells them (``X-Hub-Signature-256``),
    looked up without regard to case. Built from the WSGI environ in one pass (werkzeug's ``Headers`` checks every
    value again, which a delivery's dozen headers paid for on every request)."""

    __slots__ = ("_folded", "_items")

    def __init__(self, items: dict[str, str]):
        self._items = items
        self._folded = {name.lower(): value for name, value in items.items()}

    @classmethod
    def from_environ(cls, environ: WSGIEnvironment) -> RequestHeaders:
        items = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key[:5] == "HTTP_"}
        for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
            if environ.get(key):
                items[name] = environ[key]
        return cls(items)

    def __getitem__(self, name: str) -> str:
        return self._folded[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._folded

    def get(self, name: str, default: Any = None) -> Any:  # same contract, without Mapping.get's try/except
        return self._folded.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> Any:
        """``(name, value)`` pairs with the names as sent."""
        return self._items.items()


@functools.lru_cache(maxsize=256)
def _url(scheme: str, host: str, root: str, path: str, query: str) -> str:
    """``request.url`` as werkzeug builds it (an IRI), remembered: every delivery to a connection has the same."""
    return get_current_url(scheme, host, root, path, query.encode("latin-1"))


def _query(environ: WSGIEnvironment) -> dict[str, str]:
    """The query string as ``request.args.to_dict()`` has it: the first value of each name."""
    query: dict[str, str] = {}
    raw = environ.get("QUERY_STRING", "")
    if raw:
        text = raw.encode("latin-1").decode("utf-8", "replace")
        for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
            query.setdefault(name, value)
    return query


class WebhookDeliveries:
    """WSGI middleware: serves webhook deliveries itself, hands everything else to ``app`` (see the module
    docstring)."""

    def __init__(self, app: WSGIApplication, runtime: Runtime, *, demo: bool = False):
        self.app = app
        self.runtime = runtime
        self.demo = demo
        self.limit = runtime.config.server.max_webhook_body_bytes

    def _target(self, environ: WSGIEnvironment) -> tuple[str, int, int] | None:
        """``(adapter, connection id, body length)`` of a delivery this path serves, ``None`` for the app's."""
        if environ.get("REQUEST_METHOD") != "POST":
            return None
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return None
        adapter_name, slash, number = path[len(PREFIX) :].partition("/")
        if not slash or not (number.isascii() and number.isdigit()) or len(number) > 19 or int(number) > INT64_MAX:
            return None
        plugins = self.runtime.plugins
        if adapter_name not in plugins.shop_adapters and adapter_name not in plugins.channel_adapters:
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not (length.isascii() and length.isdigit()) or int(length) > self.limit:
            return None
        return adapter_name, int(number), int(length)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = self._target(environ)
        if target is None:
            return self.app(environ, start_response)
        adapter_name, connection_id, length = target
        sent_id = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = sent_id if valid_request_id(sent_id) else uuid.uuid4().hex
        token = current_request_id.set(request_id)
        try:
            body = environ["wsgi.input"].read(length) if length else b""
            if len(body) != length:
                answer: WebhookReply | tuple[int, dict[str, Any]] = (
                    400,
                    {"error": f"request body ended after {len(body)} of its {length} bytes"},
                )
            else:
                answer = self._handle(environ, adapter_name, connection_id, body)
        finally:
            current_request_id.reset(token)
        if isinstance(answer, WebhookReply):
            status, content, content_type = answer.status, answer.body.encode(), answer.content_type
        else:
            status, content, content_type = answer[0], _json(answer[1]), "application/json"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(content))), *self._security_headers(),
                   (REQUEST_ID_HEADER, request_id)]  # fmt: skip
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown').upper()}", headers)
        return [content]

    def _handle(
        self, environ: WSGIEnvironment, adapter_name: str, connection_id: int, body: bytes
    ) -> WebhookReply | tuple[int, dict[str, Any]]:
        from connector.webhooks.routes import handle

        def raw() -> WebhookRequest:
            return WebhookRequest(
                method="POST",
                url=_url(
                    environ["wsgi.url_scheme"],
                    get_host(environ),
                    environ.get("SCRIPT_NAME", ""),
                    environ.get("PATH_INFO", ""),
                    environ.get("QUERY_STRING", ""),
                ),
                headers=RequestHeaders.from_environ(environ),
                query=_query(environ),
                body=body,
            )

        try:
            return handle(self.runtime, adapter_name, connection_id, raw)
        except Exception:
            # What Flask would do with an error in a view: log it, answer 500 (the delivery was not stored: the
            # platform sends it again).
            log.exception("webhook for %s %s failed", adapter_name, connection_id)
            return 500, {"error": "internal error: the delivery was not stored, send it again"}

    def _security_headers(self) -> list[tuple[str, str]]:
        if self.demo:
            return list({**SECURITY_HEADERS, "Content-Security-Policy": demo_policy()}.items())
        return list(SECURITY_HEADERS.items())


def _json(value: dict[str, Any]) -> bytes:
    """As Flask's ``jsonify`` writes it outside debug mode: compact, one line."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def install(app: Any, runtime: Runtime, *, demo: bool = False) -> None:
    """Put :class:`WebhookDeliveries` in front of ``app.wsgi_app`` (a Flask app). Install it before the trusted proxy
    fix (:mod:`connector.web.proxy`), which then wraps it: the delivery's URL is the one the platform called."""
    app.wsgi_app = WebhookDeliveries(app.wsgi_app, runtime, demo=demo)
