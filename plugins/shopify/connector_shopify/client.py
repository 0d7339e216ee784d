"""A GraphQL client for the Admin API that respects Shopify's cost-based leaky bucket."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from connector_shopify import scopes
from connector_shopify.tokens import TokenKeeper

from connector.errors import AuthenticationError, PlatformError, RateLimited
from connector.http import HttpClient

log = logging.getLogger(__name__)

#: Requested cost assumed for a document we have not sent yet.
DEFAULT_COST = 50


def _error_detail(response: requests.Response) -> str | None:
    try:
        errors = response.json().get("errors")
    except ValueError:
        return None
    return errors if isinstance(errors, str) else (str(errors) if errors else None)


class AccessDenied(AuthenticationError):
    """Shopify answered ``ACCESS_DENIED``: the app's token lacks an access scope. ``scopes`` names the missing ones."""

    def __init__(self, message: str, *, scopes: list[str], status: int | None = None):
        super().__init__(message, status=status, code="ACCESS_DENIED")
        self.scopes = scopes


def _access_denied(errors: list[Any], status: int) -> AccessDenied:
    denied = [e for e in errors if isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "ACCESS_DENIED"]
    # One entry per denied field; its requiredAccess may offer alternatives ("`a` access scope or `b` access scope").
    needed: dict[str, list[str]] = {}
    for error in denied:
        text = (error.get("extensions") or {}).get("requiredAccess") or error.get("message", "")
        alternatives = scopes.named_in(text)
        if alternatives:
            needed.setdefault(alternatives[0], alternatives[1:])
    details = "; ".join(str(e.get("message")) for e in denied)
    if needed:
        named = ", ".join(f"{h} (or {' or '.join(alt)})" if alt else h for h, alt in needed.items())
        fix = (
            f"The app's access token lacks the access scope {named}: grant it in the app's Admin API scopes "
            "(Shopify admin > Settings > Apps and sales channels > Develop apps), update the installation and "
            "test the connection again."
        )
    else:
        fix = "The app's access token lacks an access scope this call needs; check the app's Admin API scopes."
    return AccessDenied(f"Shopify denied access ({details}). {fix}", scopes=list(needed), status=status)


class ShopifyGraphQL:
    """POSTs documents to ``/admin/api/<version>/graphql.json``.

    Reads ``extensions.cost.throttleStatus`` from every answer and, before the next query, waits
    until the bucket refilled enough for that query's last requested cost; a ``THROTTLED`` answer
    (HTTP 200 or 429) is waited out and retried. Transport failures are retried by
    :class:`~connector.http.HttpClient`.
    """

    def __init__(
        self,
        shop_url: str,
        access_token: str,
        api_version: str,
        *,
        max_throttle_retries: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        tokens: TokenKeeper | None = None,
    ):
        self.http = HttpClient(
            f"{shop_url.rstrip('/')}/admin/api/{api_version}",
            platform="Shopify",
            headers={"X-Shopify-Access-Token": access_token, "Content-Type": "application/json"},
            error_detail=_error_detail,
        )
        #: Renews expiring tokens (installed by approval, client credentials); ``None``: the token is permanent.
        self.tokens = tokens
        self.max_throttle_retries = max_throttle_retries
        self.sleep = sleep
        self._lock = threading.Lock()
        self._status: dict[str, float] | None = None
        self._status_at = 0.0
        self._costs: dict[tuple[str, Any], int] = {}
        self.waited = 0.0  # seconds spent waiting for the bucket (observability, tests)
        self.api_version = api_version
        #: The version Shopify says answered (``X-Shopify-API-Version``); differs after a fall-forward.
        self.served_version: str | None = None

    def _available_now(self) -> float | None:
        if self._status is None:
            return None
        elapsed = time.monotonic() - self._status_at
        return min(
            self._status["maximumAvailable"], self._status["currentlyAvailable"] + elapsed * self._status["restoreRate"]
        )

    def _wait_for(self, cost: int) -> None:
        with self._lock:
            available = self._available_now()
            status = self._status
        if available is None or status is None or available >= cost:
            return
        delay = (min(cost, status["maximumAvailable"]) - available) / max(status["restoreRate"], 1.0)
        log.debug("Shopify bucket low (%.0f < %d): waiting %.2fs", available, cost, delay)
        self.waited += delay
        self.sleep(delay)

    def _note_version(self, response: requests.Response) -> None:
        served = response.headers.get("X-Shopify-API-Version")
        if served and served != self.served_version:
            self.served_version = served
            if served != self.api_version:
                log.warning(
                    "Shopify answered with API version %s, not the requested %s (it is no longer served): "
                    "update the connection's API version",
                    served,
                    self.api_version,
                )

    def _remember(self, cost: dict[str, Any] | None, query: Any, received: float) -> None:
        if not cost:
            return
        with self._lock:
            if isinstance(cost.get("throttleStatus"), dict) and received >= self._status_at:
                self._status = {k: float(v) for k, v in cost["throttleStatus"].items()}
                self._status_at = received
            if cost.get("requestedQueryCost") is not None:
                self._costs[query] = int(cost["requestedQueryCost"])

    def _post(self, payload: dict[str, Any], idempotent: bool) -> requests.Response:
        """POST with a valid token: renewed before it expires, and once more when Shopify answers 401 (revoked by
        another install, or expired early)."""
        if self.tokens is None:
            return self.http.post("graphql.json", json=payload, idempotent=idempotent)
        token = self.tokens.current()
        try:
            return self.http.post(
                "graphql.json", json=payload, idempotent=idempotent, headers={"X-Shopify-Access-Token": token}
            )
        except AuthenticationError as exc:
            renewed = self.tokens.refused(token) if exc.status == 401 else None
            if renewed is None:
                raise
            return self.http.post(
                "graphql.json", json=payload, idempotent=idempotent, headers={"X-Shopify-Access-Token": renewed}
            )

    def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        idempotent: bool = True,
        cost: int | None = None,
    ) -> dict[str, Any]:
        """Run ``query`` and return its ``data``; raise :class:`PlatformError` for GraphQL errors.

        ``cost``: the requested cost the caller worked out from Shopify's cost model, waited for before Shopify
        has told it (otherwise a first query of a kind is sent on a guess and may come back ``THROTTLED``).
        A missing access scope (``ACCESS_DENIED``) raises :class:`AccessDenied` naming the scope; it is never retried.
        """
        payload = {"query": query, "variables": variables or {}}
        # The requested cost depends on the document and its page size: remember it per (document, first).
        key = (query, (variables or {}).get("first"))
        for _ in range(self.max_throttle_retries + 1):
            self._wait_for(self._costs.get(key, cost or DEFAULT_COST))
            try:
                response = self._post(payload, idempotent)
            except RateLimited:
                # HttpClient already retried the 429s; give the bucket time and go round again.
                self._wait_for(self._costs.get(key, cost or DEFAULT_COST))
                continue
            # Shopify reported the bucket before the answer was sent: stamp it on arrival, before decoding it.
            received = time.monotonic()
            self._note_version(response)
            body = response.json()
            self._remember((body.get("extensions") or {}).get("cost"), key, received)
            errors = body.get("errors")
            if errors:
                codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
                if "THROTTLED" in codes:
                    continue  # _wait_for at the top of the loop sleeps until the bucket holds the cost
                if "ACCESS_DENIED" in codes:
                    raise _access_denied(errors, response.status_code)
                messages = "; ".join(e.get("message", str(e)) if isinstance(e, dict) else str(e) for e in errors)
                raise PlatformError(
                    f"Shopify rejected the query: {messages}",
                    status=response.status_code,
                    code=codes.pop() if codes else None,
                )
            return body.get("data") or {}
        raise RateLimited(f"Shopify kept throttling after {self.max_throttle_retries} waits", status=200)
