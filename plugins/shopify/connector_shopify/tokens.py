"""The access token of a Shopify connection, renewed without the owner.

Three kinds of connection:

* ``token``: a permanent ``shpat_`` token pasted by the owner (legacy admin-created custom apps); never renewed.
* ``oauth``: installed by approval; an expiring offline token (1 hour) renewed with the rotating refresh token
  shortly before it expires and after a 401.
* ``client_credentials``: a Dev Dashboard app of the owner's own organization; a 24-hour token requested again with
  the app's client ID and secret.

Every renewal is stored at once (encrypted, through the connection's credential store): Shopify retires the old
refresh token once the new one is used, so losing the new one would lose the connection. Before renewing, the keeper
reads the stored settings: another process may have renewed already, and a second renewal would revoke its token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connector_shopify import oauth

from connector.adapters import CredentialStore
from connector.errors import AuthenticationError

log = logging.getLogger(__name__)

MODES = ("token", "oauth", "client_credentials")


def _expiry(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TokenKeeper:
    """Hands out a valid access token; renews it when it is about to expire or was refused."""

    def __init__(self, settings: Mapping[str, Any], *, margin_seconds: float = 300.0):
        self.mode = str(settings.get("auth_mode") or "token")
        self.admin_base = str(settings["shop_url"]).rstrip("/")
        self.client_id = str(settings.get("client_id") or "")
        self.client_secret = str(settings.get("client_secret") or "")
        self.margin = timedelta(seconds=margin_seconds)
        self._token = str(settings["access_token"])
        self._refresh_token = str(settings.get("refresh_token") or "")
        self._expires_at = _expiry(settings.get("token_expires_at"))
        self._store: CredentialStore | None = None
        self._lock = threading.Lock()
        self.renewals = 0  # how many times this keeper renewed (observability, tests)

    @property
    def renewable(self) -> bool:
        return self.mode in ("oauth", "client_credentials")

    def bind(self, store: CredentialStore) -> None:
        self._store = store

    def current(self) -> str:
        """A token valid for at least the margin (renewed first when it is not)."""
        with self._lock:
            if self.renewable and self._expires_at is not None and self._expires_at - self.margin <= datetime.now(UTC):
                self._renew_locked(self._token)
            return self._token

    def refused(self, token: str) -> str | None:
        """Shopify answered 401 to ``token``: the renewed token to retry with, or ``None`` when it cannot be renewed."""
        if not self.renewable:
            return None
        with self._lock:
            self._renew_locked(token)
            return self._token

    def _adopt(self, settings: Mapping[str, Any]) -> None:
        self._token = str(settings.get("access_token") or self._token)
        self._refresh_token = str(settings.get("refresh_token") or "")
        self._expires_at = _expiry(settings.get("token_expires_at"))

    def _renew_locked(self, stale: str) -> None:
        if self._store is not None:
            stored = self._store.load()
            expires = _expiry(stored.get("token_expires_at"))
            fresh = expires is None or expires - self.margin > datetime.now(UTC)
            if stored.get("access_token") and stored["access_token"] != stale and fresh:
                self._adopt(stored)  # another process renewed it already
                return
            self._refresh_token = str(stored.get("refresh_token") or self._refresh_token)
        renew: Callable[[], oauth.TokenSet]
        if self.mode == "oauth":
            if not self._refresh_token:
                raise AuthenticationError("the Shopify connection has no refresh token: connect the shop again")
            renew = lambda: oauth.refresh(self.admin_base, self.client_id, self.client_secret, self._refresh_token)  # noqa: E731
        else:
            renew = lambda: oauth.client_credentials(self.admin_base, self.client_id, self.client_secret)  # noqa: E731
        try:
            tokens = renew()
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"Shopify refused to renew the access token ({exc}); connect the shop again from the setup wizard",
                status=401,
            ) from exc
        if self.mode == "oauth" and not tokens.refresh_token:
            # A refresh without a new refresh token keeps the old one usable (Shopify's pre-rotation behaviour).
            tokens = oauth.TokenSet(tokens.access_token, tokens.scope, tokens.expires_at, self._refresh_token)
        changes = tokens.as_settings()
        if self._store is not None:
            self._store.save(changes)
        self._adopt(changes)
        self.renewals += 1
        log.info("Shopify %s: access token renewed (%s), valid until %s", self.admin_base, self.mode, self._expires_at)
