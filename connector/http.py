"""One HTTP client for every platform plugin: timeouts, retries with backoff, and error mapping.

Plugins create one :class:`HttpClient` per connection and call :meth:`HttpClient.request`. It retries
what is safe to retry and turns HTTP failures into :mod:`connector.errors` exceptions:

* 429 is always retried (the platform refused the request, so nothing happened), honouring
  ``Retry-After`` when the platform sends it;
* 5xx and connection errors are retried for idempotent methods, and for others only when the caller
  says the request is idempotent (``idempotent=True``, e.g. an order create keyed by a reference);
* 401/403 raise :class:`~connector.errors.AuthenticationError`, 404 :class:`~connector.errors.NotFound`,
  anything else :class:`~connector.errors.PlatformError`.

Requests go out through urllib3's connection pools directly and come back as :class:`requests.Response`
objects (what plugins read: ``json()``, ``text``, ``headers``, ``iter_lines()``). ``requests.Session`` would
do the same transfer, but its per-request machinery (preparing, merging settings, hooks, adapters) cost
twice the CPU of the transfer itself: 1.0 ms against 0.5 ms per send to a platform nearby, which is most
of a notification fan-out's CPU. Nothing plugins use is lost: JSON, form and raw bodies, query
parameters, basic auth, redirects, proxies from the environment, a CA bundle, gzip, streaming.
"""

from __future__ import annotations

import base64
import json as jsonlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, get_environ_proxies
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from connector.errors import AuthenticationError, NotFound, PlatformError, RateLimited

log = logging.getLogger(__name__)

#: Connections kept open per host: at least as many as requests a process has in flight (the fan-out sends
#: :data:`connector.chat.messages.SEND_CONCURRENCY` at once per process).
POOL_SIZE = 32
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Multiply our own backoff waits by this (``CONNECTOR_HTTP_BACKOFF_SCALE``); tests lower it to keep runs short.
#: A platform's ``Retry-After`` is never scaled.
BACKOFF_SCALE = float(os.environ.get("CONNECTOR_HTTP_BACKOFF_SCALE", "1"))
#: urllib3 itself never retries (that is :class:`HttpClient`'s job, with backoff); it only follows redirects.
_MAX_REDIRECTS = 10
_FOLLOW_REDIRECTS_ONLY = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=_MAX_REDIRECTS)
#: Headers not sent on to another host after a redirect (urllib3's own list for the redirects it follows).
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
_DEFAULT_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}


#: ``(method, url, headers, form_body) -> (url, headers)``: signs one attempt of a request.
Signer = Callable[[str, str, dict[str, str], bytes | None], tuple[str, dict[str, str]]]


class _Transient(Exception):
    """A failure worth another try; carries the error to raise when the tries run out."""

    def __init__(self, error: PlatformError):
        super().__init__(str(error))
        self.error = error


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(response: requests.Response, platform: str, detail: str | None = None) -> PlatformError:
    """Build the right :class:`~connector.errors.PlatformError` subclass for a failed response."""
    text = detail or response.text[:500]
    message = f"{platform} answered {response.status_code} for {response.request.method} {response.url}: {text}"
    status = response.status_code
    if status in (401, 403):
        return AuthenticationError(message, status=status)
    if status == 404:
        return NotFound(message, status=status)
    if status == 429:
        return RateLimited(message, retry_after=_retry_after(response), status=status)
    return PlatformError(message, status=status, retryable=status >= 500)


def basic_auth_header(user: str, password: str) -> str:
    """The ``Authorization`` value for HTTP basic auth (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _without_none(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Query or form pairs, leaving out ``None`` values as ``requests`` does (a list value repeats the key)."""
    pairs: list[tuple[str, Any]] = []
    for key, value in values.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            if item is not None:
                pairs.append((key, item))
    return pairs


def _merge_headers(base: dict[str, str], extra: Mapping[str, str] | None) -> dict[str, str]:
    """``base`` with ``extra`` on top; header names compare case-insensitively (HTTP's rule)."""
    if not extra:
        return dict(base)
    replaced = {name.lower() for name in extra}
    merged = {name: value for name, value in base.items() if name.lower() not in replaced}
    merged.update(extra)
    return merged


def _timeout(value: float | tuple[float, float] | None) -> urllib3.Timeout:
    if isinstance(value, tuple):
        return urllib3.Timeout(connect=value[0], read=value[1])
    return urllib3.Timeout(connect=value, read=value)


class HttpClient:
    """Requests to one platform base URL over kept-alive connections, with retries and typed errors.

    :param headers: sent with every request (e.g. an ``Authorization`` bearer token).
    :param auth: ``(user, password)`` for HTTP basic auth.
    :param error_detail: optional callable that extracts a readable error from a failed response
        (e.g. WooCommerce's ``{"code": ..., "message": ...}``).
    :param sign: optional callable ``(method, url, headers, form_body) -> (url, headers)`` run before every
        attempt, retries included, for schemes that sign each request once (OAuth 1.0a nonces).
    """

    def __init__(
        self,
        base_url: str,
        *,
        platform: str,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        error_detail: Callable[[requests.Response], str | None] | None = None,
        sign: Signer | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.platform = platform
        self.headers: dict[str, str] = {"User-Agent": "chatshop-connector", **_DEFAULT_HEADERS, **(headers or {})}
        if auth is not None:
            self.headers["Authorization"] = basic_auth_header(*auth)
        self.timeout = timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.error_detail = error_detail
        self.sign = sign
        # Proxy and CA settings come from the environment (HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE or
        # CURL_CA_BUNDLE), as with requests, but are looked up once per host, not on every request.
        # Credentials always come from the connection's settings, never from ~/.netrc.
        self._ca_bundle = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or requests.certs.where()
        )
        self._managers: dict[tuple[str, str], urllib3.PoolManager] = {}
        self._managers_lock = threading.Lock()
        self.max_attempts = max_attempts

    @property
    def max_attempts(self) -> int:
        """Tries per request, the first included."""
        return self._max_attempts

    @max_attempts.setter
    def max_attempts(self, value: int) -> None:
        self._max_attempts = value
        self._retrying = Retrying(  # tenacity keeps a call's state per thread: one instance serves every thread
            stop=stop_after_attempt(value),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )

    @property
    def timeout(self) -> float | tuple[float, float]:
        """The default ``(connect, read)`` timeout in seconds (a single number sets both)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | tuple[float, float]) -> None:
        self._timeout = value
        self._default_timeout = _timeout(value)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        manager = self._managers.get(key)
        if manager is None:
            with self._managers_lock:
                manager = self._managers.get(key)
                if manager is None:
                    tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", "ca_certs": self._ca_bundle}
                    proxy = get_environ_proxies(url).get(parts.scheme)
                    if proxy:
                        manager = urllib3.ProxyManager(proxy, num_pools=4, maxsize=POOL_SIZE, **tls)
                    else:
                        manager = urllib3.PoolManager(num_pools=4, maxsize=POOL_SIZE, **tls)
                    self._managers[key] = manager
        return manager

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.error.retry_after is not None:
            # The platform said how long to wait: honour it exactly (tests do not shorten it).
            return min(exc.error.retry_after, self.backoff_max)
        base = wait_exponential_jitter(multiplier=self.backoff_initial, max=self.backoff_max)(state)
        return base * BACKOFF_SCALE

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | tuple[float, float] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send a request, retrying transient failures; return the successful response or raise.

        ``json`` is sent as a JSON body, ``data`` as a form (a mapping) or as it is (text or bytes), ``params``
        as the query string (a list value repeats the key). With ``stream=True`` the body is read as the caller
        iterates (``iter_lines()``, ``iter_content()``); the caller closes the response.
        """
        method = method.upper()
        retry_server_errors = idempotent if idempotent is not None else method in _IDEMPOTENT
        url = self.url(path)
        if params and (query := urlencode(_without_none(params))):
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        body: bytes | None = None
        content_type: str | None = None
        if json is not None:
            body = jsonlib.dumps(json, allow_nan=False).encode()
            content_type = "application/json"
        elif isinstance(data, Mapping):
            body = urlencode(_without_none(data)).encode()
            content_type = "application/x-www-form-urlencoded"
        elif data is not None:
            body = data.encode() if isinstance(data, str) else data
        sent_headers = _merge_headers(self.headers, headers)
        if content_type is not None and not (headers and any(name.lower() == "content-type" for name in headers)):
            sent_headers["Content-Type"] = content_type
        urllib3_timeout = self._default_timeout if timeout is None else _timeout(timeout)

        form = body if content_type == "application/x-www-form-urlencoded" else None

        def attempt() -> requests.Response:
            signed_url, signed_headers = (
                (url, sent_headers) if self.sign is None else self.sign(method, url, dict(sent_headers), form)
            )
            try:
                raw, final_method, final_url, final_headers = self._open(
                    method, signed_url, body, signed_headers, urllib3_timeout, stream
                )
            except urllib3.exceptions.HTTPError as exc:
                reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
                # A refused connection is a NewConnectionError, which urllib3 files under its timeouts.
                refused = isinstance(reason, urllib3.exceptions.NewConnectionError)
                timed_out = not refused and isinstance(reason, urllib3.exceptions.TimeoutError)
                what = "timed out" if timed_out else f"unreachable ({reason})"
                error = PlatformError(f"{self.platform} {what} at {url}", retryable=True)
                if retry_server_errors:
                    raise _Transient(error) from exc
                raise error from exc
            response = self._response(raw, final_method, final_url, final_headers, stream)
            if response.status_code < 400:
                return response
            detail = self._detail(response)
            error = error_from_response(response, self.platform, detail)
            if response.status_code == 429 or (response.status_code >= 500 and retry_server_errors):
                log.info("%s: %s, retrying", self.platform, error)
                raise _Transient(error)
            raise error

        try:
            # The first attempt runs without tenacity, whose bookkeeping costs as much CPU as a sandbox's answer
            # (a fan-out sends a thousand requests a second); a transient failure hands over to it below.
            return attempt()
        except _Transient as exc:
            first = exc
        replayed = False

        def again() -> requests.Response:
            # Tenacity's first attempt is the one already made: its failure is replayed, not sent again, so the
            # retries, their waits (``Retry-After`` included) and the attempt limit are as if tenacity ran it.
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first
            return attempt()

        try:
            return self._retrying(again)
        except _Transient as exc:
            raise exc.error from None

    def _open(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: urllib3.Timeout,
        stream: bool,
    ) -> tuple[urllib3.BaseHTTPResponse, str, str, dict[str, str]]:
        """Send the request, following redirects as browsers and ``requests`` do: urllib3 follows them itself but
        keeps the method on a 301 or 302, where a POST (or any method but GET and HEAD) becomes a GET without its
        body. Returns the response and the method, URL and headers of the request that got it."""
        for _ in range(_MAX_REDIRECTS):
            follow = method in ("GET", "HEAD")
            raw = self._manager(url).urlopen(
                method,
                url,
                body=body,
                headers=headers,
                timeout=timeout,
                retries=_FOLLOW_REDIRECTS_ONLY,
                redirect=follow,
                preload_content=not stream,
                decode_content=True,
            )
            location = raw.get_redirect_location() if not follow else None
            if not location:
                return raw, method, url, headers
            raw.drain_conn()
            target = urljoin(url, location)
            if raw.status in (301, 302, 303):
                method, body = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
            if urlsplit(target).netloc != urlsplit(url).netloc:  # credentials stay with the host they were for
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
            url = target
        raise urllib3.exceptions.MaxRetryError(None, url, "too many redirects")  # type: ignore[arg-type]

    def _detail(self, response: requests.Response) -> str | None:
        if self.error_detail is None:
            return None
        try:
            return self.error_detail(response)
        except Exception:  # an error page the plugin did not expect must still become a PlatformError
            log.debug("%s: could not read the error body", self.platform, exc_info=True)
            return None

    @staticmethod
    def _response(
        raw: urllib3.BaseHTTPResponse, method: str, url: str, headers: dict[str, str], stream: bool
    ) -> requests.Response:
        """Wrap urllib3's response the way ``requests`` does, so plugins read it as they always have."""
        response = requests.Response()
        response.status_code = raw.status
        response.reason = raw.reason or ""
        response.headers = CaseInsensitiveDict(raw.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = raw
        history = raw.retries.history if raw.retries else ()
        if history and history[-1].redirect_location:  # followed redirects: the URL that answered
            last = history[-1].url or url
            response.url = urljoin(last if "://" in last else url, history[-1].redirect_location)
        else:
            response.url = url
        request = requests.PreparedRequest()
        request.method, request.url, request.headers = method, url, CaseInsensitiveDict(headers)
        response.request = request
        if not stream:
            response._content = raw.data  # already read (preload_content): the connection is back in its pool
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)
