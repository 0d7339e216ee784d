"""Shopify's OAuth wire protocol: the authorize URL, the query-string HMAC, and the token endpoint's grants.

All grants share ``POST https://<shop>/admin/oauth/access_token`` (docs/platforms/shopify.md, "Install by
approval"): authorization code (with ``expiring=1``: a 1-hour access token and a 90-day refresh token that rotates on
every use), refresh, and the Dev Dashboard's client-credentials grant (24-hour tokens, no refresh token).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import requests

from connector.errors import AuthenticationError, PlatformError

#: The shop domains Shopify's own SDK accepts (``sanitizeShop``).
SHOP_DOMAIN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*\.(myshopify\.com|shopify\.com|myshopify\.io|shop\.dev)$")
_ADMIN_STORE = re.compile(r"^admin\.shopify\.com/store/([a-zA-Z0-9][a-zA-Z0-9\-_]*)$")
TIMEOUT = (5.0, 30.0)


class OAuthError(PlatformError):
    """The token endpoint refused a grant (``invalid_grant``, ``invalid_client``...)."""


@dataclass(frozen=True, slots=True)
class TokenSet:
    """What the token endpoint answered."""

    access_token: str
    scope: str
    expires_at: datetime | None  # None: the token never expires
    refresh_token: str | None = None

    def as_settings(self) -> dict[str, Any]:
        """The connection settings holding this token (an empty refresh token / expiry for a permanent one)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token or "",
            "token_expires_at": self.expires_at.isoformat() if self.expires_at else "",
        }


def normalize_shop(text: str) -> str | None:
    """``your-store.myshopify.com`` from what an owner types (with or without ``https://``, a trailing slash, or the
    ``admin.shopify.com/store/<name>`` address); ``None`` when it is no Shopify shop domain."""
    value = (text or "").strip().lower()
    value = re.sub(r"^https?://", "", value).rstrip("/")
    if m := _ADMIN_STORE.match(value):
        value = f"{m[1]}.myshopify.com"
    if "." not in value and re.fullmatch(r"[a-z0-9][a-z0-9\-_]*", value):
        value = f"{value}.myshopify.com"
    return value if len(value) <= 255 and SHOP_DOMAIN.match(value) else None


def authorize_url(admin_base: str, client_id: str, scopes: Sequence[str], redirect_uri: str, state: str) -> str:
    """Where the owner approves the install: ``grant_options[]`` left empty asks for an offline (shop) token."""
    query = urlencode(
        [
            ("client_id", client_id),
            ("scope", ",".join(scopes)),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("grant_options[]", ""),
        ]
    )
    return f"{admin_base.rstrip('/')}/admin/oauth/authorize?{query}"


def _python_message(pairs: Iterable[tuple[str, str]]) -> str:
    # Shopify's Python SDK: values decoded, only % and & escaped (and = in keys), sorted by key.
    def esc(value: str, key: bool = False) -> str:
        value = value.replace("%", "%25").replace("&", "%26")
        return value.replace("=", "%3D") if key else value

    return "&".join(f"{esc(k, True)}={esc(v)}" for k, v in sorted(pairs))


def _js_message(pairs: Iterable[tuple[str, str]]) -> str:
    # Shopify's JS SDK: URLSearchParams of the sorted pairs, spaces as %20.
    return urlencode(sorted(pairs), quote_via=quote, safe="")


def query_hmac(pairs: Iterable[tuple[str, str]], secret: str) -> str:
    """The hex HMAC-SHA256 Shopify puts in ``hmac`` (the Python SDK's message form)."""
    message = _python_message([(k, v) for k, v in pairs if k not in ("hmac", "signature")])
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_query(pairs: Sequence[tuple[str, str]], secret: str, *, max_age: float = 24 * 3600) -> bool:
    """Whether the install/callback query is signed with ``secret`` (either SDK's encoding) and its ``timestamp``
    is no older than ``max_age`` seconds (Shopify's Python SDK refuses older than a day)."""
    given = dict(pairs).get("hmac") or ""
    rest = [(k, v) for k, v in pairs if k not in ("hmac", "signature")]
    candidates = {_python_message(rest), _js_message(rest)}
    ok = any(
        hmac.compare_digest(hmac.new(secret.encode(), m.encode(), hashlib.sha256).hexdigest(), given.lower())
        for m in candidates
    )
    try:
        stamp = int(dict(pairs).get("timestamp") or "")
    except ValueError:
        return False
    return ok and time.time() - stamp <= max_age and stamp - time.time() <= 300


def _post(admin_base: str, body: dict[str, str]) -> TokenSet:
    url = f"{admin_base.rstrip('/')}/admin/oauth/access_token"
    try:
        response = requests.post(
            url, json=body, headers={"Accept": "application/json"}, timeout=TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise PlatformError(f"Shopify's token endpoint could not be reached: {exc}") from exc
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code != 200 or not isinstance(payload, dict) or not payload.get("access_token"):
        error = payload.get("error") if isinstance(payload, dict) else None
        detail = (payload.get("error_description") if isinstance(payload, dict) else None) or response.text[:200]
        cls = AuthenticationError if response.status_code in (400, 401) else PlatformError
        raise cls(f"Shopify refused the token request ({error or response.status_code}): {detail}", code=error)
    expires_in = payload.get("expires_in")
    expires_at = datetime.now(UTC) + timedelta(seconds=int(expires_in)) if isinstance(expires_in, int | float) else None
    return TokenSet(
        access_token=str(payload["access_token"]),
        scope=str(payload.get("scope") or ""),
        expires_at=expires_at,
        refresh_token=str(payload["refresh_token"]) if payload.get("refresh_token") else None,
    )


def exchange_code(admin_base: str, client_id: str, client_secret: str, code: str) -> TokenSet:
    """The authorization-code grant, asking for an expiring offline token (``expiring=1``)."""
    return _post(admin_base, {"client_id": client_id, "client_secret": client_secret, "code": code, "expiring": "1"})


def refresh(admin_base: str, client_id: str, client_secret: str, refresh_token: str) -> TokenSet:
    """A new access token and a new refresh token for ``refresh_token`` (which Shopify then retires)."""
    return _post(
        admin_base,
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )


def client_credentials(admin_base: str, client_id: str, client_secret: str) -> TokenSet:
    """The client-credentials grant of a Dev Dashboard app installed in its own organization's store."""
    return _post(
        admin_base, {"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"}
    )
