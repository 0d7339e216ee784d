"""HTTP access to one WooCommerce store's REST API v3: auth, error details and page-by-page listing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from oauthlib import oauth1

from connector.http import HttpClient

API_PREFIX = "/wp-json/wc/v3"
TRACKING_PREFIX = "/wp-json/wc-shipment-tracking/v3"
#: The WordPress REST maximum for ``per_page``.
MAX_PER_PAGE = 100


def error_detail(response: requests.Response) -> str | None:
    """WooCommerce/WordPress errors are ``{"code": ..., "message": ..., "data": {"status": ...}}``."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, Mapping) and body.get("message"):
        return f"{body.get('code', 'error')}: {body['message']}"
    return None


class OAuth1Signer:
    """Signs each request with OAuth 1.0a "one-legged" (HMAC-SHA256, key ``consumer_secret&``), as WooCommerce
    requires over plain HTTP. The parameters go in an ``Authorization: OAuth`` header (WooCommerce >= 3.0), so
    no signature or key ever appears in a logged URL. Each call signs afresh: a retry gets a new nonce."""

    def __init__(self, consumer_key: str, consumer_secret: str):
        self.client = oauth1.Client(
            consumer_key,
            client_secret=consumer_secret,
            signature_method=oauth1.SIGNATURE_HMAC_SHA256,
            signature_type=oauth1.SIGNATURE_TYPE_AUTH_HEADER,
        )

    def __call__(
        self, method: str, url: str, headers: dict[str, str], form: bytes | None
    ) -> tuple[str, dict[str, str]]:
        # A form body's fields are signed too; JSON bodies are not part of OAuth 1.0a signatures.
        body_headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else None
        _, signed, _ = self.client.sign(
            url, method, body=form.decode() if form is not None else None, headers=body_headers
        )
        headers["Authorization"] = signed["Authorization"]
        return url, headers


class WooClient:
    """One store, JSON in and out. Over HTTPS the consumer key/secret go as HTTP Basic auth; over plain HTTP
    WooCommerce refuses them that way, so every request is signed with OAuth 1.0a instead."""

    def __init__(self, shop_url: str, consumer_key: str, consumer_secret: str, *, timeout: float = 30.0):
        self.shop_url = shop_url.rstrip("/")
        plain_http = urlsplit(self.shop_url).scheme == "http"
        self.http = HttpClient(
            self.shop_url,
            platform="WooCommerce",
            auth=None if plain_http else (consumer_key, consumer_secret),
            sign=OAuth1Signer(consumer_key, consumer_secret) if plain_http else None,
            headers={"Accept": "application/json"},
            timeout=(5.0, timeout),
            error_detail=error_detail,
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.http.get(f"{API_PREFIX}/{path.lstrip('/')}", params=dict(params or {})).json()

    def post(self, path: str, body: Mapping[str, Any], *, idempotent: bool | None = None) -> Any:
        return self.http.post(f"{API_PREFIX}/{path.lstrip('/')}", json=body, idempotent=idempotent).json()

    def put(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.http.put(f"{API_PREFIX}/{path.lstrip('/')}", json=body).json()

    def tracking_items(self, order_id: str) -> list[dict[str, Any]]:
        """Shipment Tracking items of an order (with their formatted ``tracking_link``)."""
        return self.http.get(f"{TRACKING_PREFIX}/orders/{order_id}/shipment-trackings").json()

    def site_index(self) -> dict[str, Any]:
        """The public WordPress REST index (site name, namespaces); needs no credentials.

        Raises ``ValueError`` when the URL answers something that is not the WordPress REST index."""
        body = self.http.get("/wp-json/").json()
        if not isinstance(body, dict):
            raise ValueError("not a WordPress REST index")
        return body

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list endpoint, ``per_page=100``, until ``X-WP-TotalPages`` is reached."""
        query = {"per_page": MAX_PER_PAGE, **(params or {})}
        page = 1
        while True:
            response = self.http.get(f"{API_PREFIX}/{path.lstrip('/')}", params={**query, "page": page})
            items = response.json()
            if items:
                yield items
            total_pages = int(response.headers.get("X-WP-TotalPages") or 0)
            if not items or page >= total_pages:
                return
            page += 1
