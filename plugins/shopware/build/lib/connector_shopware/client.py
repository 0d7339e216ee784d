"""Talking to a Shopware 6 Admin API: OAuth client-credentials tokens, search criteria and error bodies.

The token is requested with the integration's access key id and secret, reused until shortly
before ``expires_in`` runs out, and requested again once when a call answers 401 anyway (a shop
restart or a revoked token).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import requests

from connector.errors import AuthenticationError
from connector.http import HttpClient

#: Renew this many seconds before the token expires, so a request never leaves with a dying token.
TOKEN_MARGIN = 30.0


def error_detail(response: requests.Response) -> str | None:
    """Shopware's ``{"errors": [{"status", "code", "title", "detail"}]}`` as ``CODE: detail``."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return None
    if not isinstance(errors, list) or not errors:
        return None
    parts = []
    for error in errors[:3]:
        if isinstance(error, dict):
            code = error.get("code")
            text = error.get("detail") or error.get("title") or ""
            parts.append(f"{code}: {text}" if code else str(text))
    return "; ".join(parts) or None


class AdminApi:
    """A thread-safe Admin API client for one shop."""

    def __init__(self, shop_url: str, client_id: str, client_secret: str, *, timeout: float = 30.0):
        self.http = HttpClient(
            shop_url,
            platform="Shopware",
            headers={"Accept": "application/json", "Content-Type": "application/json"},
            timeout=(5.0, timeout),
            error_detail=error_detail,
        )
        self.client_id = client_id
        self.client_secret = client_secret
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def _fetch_token(self) -> str:
        # Asking for a token twice is harmless, so 5xx on it is retried like an idempotent call.
        response = self.http.post(
            "/api/oauth/token",
            json={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
            idempotent=True,
        )
        data = response.json()
        self._token = data["access_token"]
        self._expires = time.monotonic() + float(data.get("expires_in", 600))
        return self._token

    def token(self, *, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None or time.monotonic() > self._expires - TOKEN_MARGIN:
                return self._fetch_token()
            return self._token

    def request(self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any) -> requests.Response:
        """An authenticated call; a 401 renews the token and tries once more."""
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {self.token()}"
        try:
            return self.http.request(method, path, idempotent=idempotent, headers=headers, **kwargs)
        except AuthenticationError as exc:
            if exc.status != 401:
                raise
        headers["Authorization"] = f"Bearer {self.token(renew=True)}"
        return self.http.request(method, path, idempotent=idempotent, headers=headers, **kwargs)

    def search(self, entity: str, criteria: dict[str, Any], *, inherit: bool = False) -> dict[str, Any]:
        """``POST /api/search/<entity>``; a search only reads, so it is retried like a GET."""
        headers = {"sw-inheritance": "1"} if inherit else {}
        return self.request("POST", f"/api/search/{entity}", json=criteria, idempotent=True, headers=headers).json()

    def search_pages(
        self, entity: str, criteria: dict[str, Any], *, page_size: int, inherit: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a search, one at a time; stops at the first short page."""
        page = 1
        while True:
            body = {**criteria, "page": page, "limit": page_size, "total-count-mode": 0}
            data = self.search(entity, body, inherit=inherit).get("data") or []
            if data:
                yield data
            if len(data) < page_size:
                return
            page += 1
