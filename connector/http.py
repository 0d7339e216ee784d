"""One HTTP client for every platform plugin: timeouts, retries with backoff, and error mapping.

Plugins create one :class:`HttpClient` per connection and call :meth:`HttpClient.request`. It retries
what is safe to retry and turns HTTP failures into :mod:`connector.errors` exceptions:

* 429 is always retried (the platform refused the request, so nothing happened), honouring
  ``Retry-After`` when the platform sends it;
* 5xx and connection errors are retried for idempotent methods, and for others only when the caller
  says the request is idempotent (``idempotent=True``, e.g. an order create keyed by a reference);
* 401/403 raise :class:`~connector.errors.AuthenticationError`, 404 :class:`~connector.errors.NotFound`,
  anything else :class:`~connector.errors.PlatformError`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from connector.errors import AuthenticationError, NotFound, PlatformError, RateLimited

log = logging.getLogger(__name__)

#: Connections kept open per host: at least as many as requests a process has in flight (the fan-out sends
#: :data:`connector.chat.messages.SEND_CONCURRENCY` at once per process).
POOL_SIZE = 32
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Multiply our own backoff waits by this (``CONNECTOR_HTTP_BACKOFF_SCALE``); tests lower it to keep runs short.
#: A platform's ``Retry-After`` is never scaled.
BACKOFF_SCALE = float(os.environ.get("CONNECTOR_HTTP_BACKOFF_SCALE", "1"))


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


class HttpClient:
    """A ``requests`` session bound to one platform base URL.

    :param error_detail: optional callable that extracts a readable error from a failed response
        (e.g. WooCommerce's ``{"code": ..., "message": ...}``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        platform: str,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        error_detail: Callable[[requests.Response], str | None] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.platform = platform
        self.session = requests.Session()
        # Keep a connection per concurrent request (requests keeps 10 per host and drops the rest after use).
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": "chatshop-connector", **(headers or {})})
        self.session.auth = auth
        # What ``trust_env`` would look up on every request (proxy variables, a CA bundle, ~/.netrc) is resolved
        # once here: per request, those lookups cost more CPU than a send to a platform nearby. Credentials always
        # come from the connection's settings, never from ~/.netrc.
        self.session.trust_env = False
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.session.verify = bundle
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.error_detail = error_detail

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.error.retry_after is not None:
            # The platform said how long to wait: honour it exactly (tests do not shorten it).
            return min(exc.error.retry_after, self.backoff_max)
        base = wait_exponential_jitter(multiplier=self.backoff_initial, max=self.backoff_max)(state)
        return base * BACKOFF_SCALE

    def request(self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any) -> requests.Response:
        """Send a request, retrying transient failures; return the successful response or raise."""
        method = method.upper()
        retry_server_errors = idempotent if idempotent is not None else method in _IDEMPOTENT
        kwargs.setdefault("timeout", self.timeout)
        url = self.url(path)

        def attempt() -> requests.Response:
            try:
                response = self.session.request(method, url, **kwargs)
            except requests.ConnectionError as exc:
                error = PlatformError(f"{self.platform} unreachable at {url}: {exc}", retryable=True)
                if retry_server_errors:
                    raise _Transient(error) from exc
                raise error from exc
            except requests.Timeout as exc:
                error = PlatformError(f"{self.platform} timed out at {url}", retryable=True)
                if retry_server_errors:
                    raise _Transient(error) from exc
                raise error from exc
            if response.status_code < 400:
                return response
            detail = self.error_detail(response) if self.error_detail else None
            error = error_from_response(response, self.platform, detail)
            if response.status_code == 429 or (response.status_code >= 500 and retry_server_errors):
                log.info("%s: %s, retrying", self.platform, error)
                raise _Transient(error)
            raise error

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            raise exc.error from None

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
