"""A client for Meta's Graph API, shared by the WhatsApp, Messenger/Instagram and catalog code.

Built on :class:`connector.http.HttpClient` (timeouts, 429/5xx retries with backoff) and adds what is
Graph-specific:

* the base URL ``{graph_url}/{api_version}`` and the ``Authorization: Bearer`` header;
* Graph error bodies (``{"error": {"code", "error_subcode", "error_data": {"details"}, ...}}``) turned
  into :mod:`connector.errors` exceptions that carry ``code``, ``error_subcode``, ``details`` and the
  whole parsed error as ``graph_error`` (a :class:`GraphErrorInfo`);
* throttling: Meta sends no ``Retry-After``. Throttling errors arrive as HTTP 400/403 with a code
  (4, 17, 32, 613, 80001-80014, 130429, ...), and the ``X-App-Usage`` / ``X-Business-Use-Case-Usage``
  headers say how close we are and ``estimated_time_to_regain_access`` (minutes). Both are read after
  every call; once Meta says we are blocked, calls fail fast with :class:`~connector.errors.RateLimited`
  (``retry_after`` in seconds) instead of hammering the API;
* :meth:`GraphClient.iter_pages` for cursor paging (``data`` + ``paging.cursors.after`` / ``paging.next``).

Usage::

    graph = GraphClient(graph_url="https://graph.facebook.com", api_version="v25.0", access_token=token)
    graph.post(f"{phone_number_id}/messages", json=payload)
    for item in graph.iter_pages(f"{catalog_id}/products", params={"fields": "retailer_id,name"}):
        ...
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from connector.errors import AuthenticationError, NotFound, PlatformError, RateLimited
from connector.http import HttpClient

log = logging.getLogger(__name__)

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"

#: Graph error codes that mean "throttled, try later" (app, user, page, custom, business use case,
#: WhatsApp throughput and pair rate, spam rate, register rate).
THROTTLE_CODES: frozenset[int] = frozenset(
    {4, 17, 32, 613, 130429, 131048, 131056, 133016, 80007, *range(80001, 80015)}
)
#: Graph error codes that mean our token or its permissions are at fault.
AUTH_CODES: frozenset[int] = frozenset({0, 3, 10, 102, 190, 131005, *range(200, 300)})
#: When Meta throttles without saying for how long, wait this many seconds.
DEFAULT_THROTTLE_WAIT = 60.0
#: Usage percentages at or above this mean Meta is throttling (its documented threshold is 100).
USAGE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class GraphErrorInfo:
    """A Graph API error body, parsed. Every exception :class:`GraphClient` raises for an answered call
    carries one as ``exc.graph_error``."""

    status: int
    code: int | None = None
    error_subcode: int | None = None
    type: str | None = None
    message: str = ""
    details: str | None = None
    fbtrace_id: str | None = None
    error_data: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """``(#code) message: details`` for logs and exception messages."""
        text = self.message or f"HTTP {self.status}"
        # Graph's own messages start with "(#code)" already (except for token errors): never say it twice.
        if self.code is not None and not text.startswith(f"(#{self.code})"):
            text = f"(#{self.code}) {text}"
        if self.error_subcode is not None:
            text += f" [subcode {self.error_subcode}]"
        if self.details and self.details not in text:
            text += f": {self.details}"
        return text


def parse_graph_error(response: requests.Response) -> GraphErrorInfo:
    """Read Meta's error body from a failed response; tolerate non-JSON bodies (proxies, HTML pages)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return GraphErrorInfo(status=response.status_code, message=response.text[:300])
    error_data = error.get("error_data")
    if isinstance(error_data, str):  # some endpoints send error_data as a JSON string
        try:
            error_data = json.loads(error_data)
        except ValueError:
            error_data = {"details": error_data}
    if not isinstance(error_data, dict):
        error_data = {}
    return GraphErrorInfo(
        status=response.status_code,
        code=_int_or_none(error.get("code")),
        error_subcode=_int_or_none(error.get("error_subcode")),
        type=error.get("type"),
        message=str(error.get("message") or error.get("error_user_msg") or ""),
        details=error_data.get("details") or error.get("error_user_msg"),
        fbtrace_id=error.get("fbtrace_id"),
        error_data=error_data,
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- usage headers


@dataclass(frozen=True, slots=True)
class Usage:
    """The highest usage percentage Meta reported on the last call and how long until access is back."""

    percent: float = 0.0
    regain_seconds: float = 0.0


def parse_usage(headers: Mapping[str, str]) -> Usage:
    """Combine ``X-App-Usage``, ``X-Business-Use-Case-Usage`` and ``X-Page-Usage`` into one :class:`Usage`.

    ``X-App-Usage: {"call_count": 28, "total_time": 25, "total_cputime": 25}``;
    ``X-Business-Use-Case-Usage: {"<id>": [{"type": "CATALOG_BATCH", "call_count": 100, ...,
    "estimated_time_to_regain_access": 3}]}`` (minutes). Malformed headers are ignored.
    """
    percent = 0.0
    regain_minutes = 0.0
    for name in ("X-App-Usage", "X-Page-Usage", "X-Ad-Account-Usage"):
        data = _json_header(headers, name)
        if isinstance(data, dict):
            percent = max(percent, _max_metric(data))
    buc = _json_header(headers, "X-Business-Use-Case-Usage")
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else [entries]:
                if isinstance(entry, dict):
                    percent = max(percent, _max_metric(entry))
                    regain_minutes = max(regain_minutes, _float(entry.get("estimated_time_to_regain_access")))
    return Usage(percent=percent, regain_seconds=regain_minutes * 60)


def _json_header(headers: Mapping[str, str], name: str) -> Any:
    value = headers.get(name)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        log.debug("ignoring malformed %s header: %r", name, value)
        return None


def _max_metric(data: Mapping[str, Any]) -> float:
    return max(
        (_float(data.get(k)) for k in ("call_count", "total_cputime", "total_time", "acc_id_util_pct")), default=0
    )


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


# --------------------------------------------------------------------------- client


class GraphClient:
    """One Graph API identity (an access token) at one API version.

    Thread-safe: one instance may be shared by worker threads (the usage state has its own lock).

    :param graph_url: ``https://graph.facebook.com`` or a sandbox URL.
    :param api_version: ``v25.0``; kept in config because Meta retires versions.
    :param access_token: a system-user (WhatsApp, catalog) or Page token.
    :param platform: the name used in error messages and logs.
    :param http_options: passed on to :class:`~connector.http.HttpClient` (``timeout``, ``max_attempts``...).
    """

    def __init__(
        self,
        *,
        graph_url: str = DEFAULT_GRAPH_URL,
        api_version: str = DEFAULT_API_VERSION,
        access_token: str,
        platform: str = "Meta Graph API",
        **http_options: Any,
    ):
        self.base_url = (
            f"{(graph_url or DEFAULT_GRAPH_URL).rstrip('/')}/{(api_version or DEFAULT_API_VERSION).strip('/')}"
        )
        self.platform = platform
        self._last_error = threading.local()
        self.http = HttpClient(
            self.base_url,
            platform=platform,
            headers={"Authorization": f"Bearer {access_token}"},
            error_detail=self._error_detail,
            **http_options,
        )
        self._lock = threading.Lock()
        self._usage = Usage()
        self._blocked_until = 0.0

    # ----------------------------------------------------------------- usage

    @property
    def usage(self) -> Usage:
        """What Meta's usage headers said on the last call."""
        with self._lock:
            return self._usage

    def _record_usage(self, response: requests.Response) -> None:
        usage = parse_usage(response.headers)
        with self._lock:
            self._usage = usage
            if usage.percent >= USAGE_LIMIT and usage.regain_seconds > 0:
                self._blocked_until = max(self._blocked_until, time.monotonic() + usage.regain_seconds)

    def blocked_for(self) -> float:
        """Seconds until Meta said access is back (0 when not throttled)."""
        with self._lock:
            return max(0.0, self._blocked_until - time.monotonic())

    # ----------------------------------------------------------------- requests

    def _error_detail(self, response: requests.Response) -> str:
        # HttpClient calls this in the thread that made the request, right before it raises (or
        # retries); keep the parsed body so request() can build a typed error from it.
        info = parse_graph_error(response)
        self._last_error.info = info
        self._record_usage(response)
        return info.summary

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one Graph request (path relative to ``{graph_url}/{api_version}``) and return the response.

        Raises :class:`~connector.errors.AuthenticationError` (bad token/permissions),
        :class:`~connector.errors.RateLimited` (throttled; ``retry_after`` in seconds),
        :class:`~connector.errors.NotFound`, or :class:`~connector.errors.PlatformError`; each carries
        ``code``, ``error_subcode``, ``details`` and ``graph_error``. Connection failures and timeouts
        raise a retryable ``PlatformError`` with ``graph_error = None``.
        """
        wait = self.blocked_for()
        if wait > 0:
            raise _attach(
                RateLimited(f"{self.platform}: usage limit reached, access back in {wait:.0f}s", retry_after=wait),
                None,
            )
        self._last_error.info = None
        try:
            response = self.http.request(method, path, **kwargs)
        except PlatformError as exc:
            info: GraphErrorInfo | None = getattr(self._last_error, "info", None)
            self._last_error.info = None
            if info is None or exc.status is None:  # transport failure: nothing was parsed
                raise _attach(exc, None) from exc.__cause__
            raise self._typed_error(info, str(exc)) from None
        self._record_usage(response)
        return response

    def _typed_error(self, info: GraphErrorInfo, message: str) -> PlatformError:
        code = info.code
        if code in THROTTLE_CODES or info.status == 429:
            retry_after = self.blocked_for() or DEFAULT_THROTTLE_WAIT
            error: PlatformError = RateLimited(message, retry_after=retry_after, status=info.status, code=code)
        elif code in AUTH_CODES or info.status == 401:
            error = AuthenticationError(message, status=info.status, code=code)
        elif info.status == 404 or (code == 100 and info.error_subcode == 33):  # 33: object does not exist
            error = NotFound(message, status=info.status, code=code)
        else:
            error = PlatformError(message, status=info.status, code=code, retryable=info.status >= 500)
        return _attach(error, info)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """``GET`` and return the decoded JSON body."""
        return self.get(path, **kwargs).json()

    def post_json(self, path: str, **kwargs: Any) -> Any:
        """``POST`` and return the decoded JSON body."""
        return self.post(path, **kwargs).json()

    def iter_pages(
        self, path: str, *, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield every object of a cursor-paged edge (``{"data": [...], "paging": {"cursors": {"after"}, "next"}}``),
        fetching one page at a time. Stops when a page has no ``paging.next``."""
        query = dict(params or {})
        if limit is not None:
            query["limit"] = limit
        while True:
            body = self.get_json(path, params=query)
            yield from body.get("data") or []
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            query["after"] = after


def _attach(error: PlatformError, info: GraphErrorInfo | None) -> PlatformError:
    """Give every raised error the same Graph attributes, whether or not Meta answered."""
    error.graph_error = info  # type: ignore[attr-defined]
    error.error_subcode = info.error_subcode if info else None  # type: ignore[attr-defined]
    error.details = info.details if info else None  # type: ignore[attr-defined]
    return error


def graph_error(exc: BaseException) -> GraphErrorInfo | None:
    """The parsed Graph error an exception from :class:`GraphClient` carries, if Meta answered at all."""
    return getattr(exc, "graph_error", None)
