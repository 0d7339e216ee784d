"""Secrets at rest: API tokens and app secrets are encrypted with Fernet before they reach the database.

Keys come from ``[security] encryption_keys`` (or ``CONNECTOR_SECURITY__ENCRYPTION_KEYS``, comma
separated), newest first: values are encrypted with the first key and decrypted with any of them, so
a key can be rotated with ``connector rotate-keys`` and then dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector.errors import ConfigError


class SecretBox:
    """Encrypts and decrypts small JSON values."""

    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise ConfigError(
                "security.encryption_keys: no key configured; run `connector init` or set CONNECTOR_SECURITY__ENCRYPTION_KEYS"
            )
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        # Blind-index keys, one per encryption key (newest first): derived, so no extra setting to keep safe.
        self._index_keys = [hmac.new(k.encode(), b"chatshop blind index", hashlib.sha256).digest() for k in keys]

    def encrypt(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def decrypt(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ConfigError(
                "a stored secret cannot be decrypted with the configured keys; was security.encryption_keys changed "
                "without keeping the old key?"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key."""
        return self._fernet.rotate(token.encode()).decode()

    def encrypt_bytes(self, data: bytes) -> bytes:
        """Encrypt raw bytes (a webhook body) under the newest key; the token is ASCII."""
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        """Decrypt :meth:`encrypt_bytes`' token with any configured key."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ConfigError(
                "stored personal data cannot be decrypted with the configured keys; was security.encryption_keys "
                "changed without keeping the old key?"
            ) from None

    def blind_index(self, term: str) -> str:
        """A keyed hash of ``term`` under the newest key: finds encrypted rows by a value without storing it."""
        return _mac(self._index_keys[0], term)

    def blind_indexes(self, term: str) -> list[str]:
        """``term``'s keyed hash under every configured key (rows indexed before a rotation match too)."""
        return [_mac(key, term) for key in self._index_keys]


@lru_cache(maxsize=8192)
def _mac(key: bytes, term: str) -> str:
    # 64 bits: plenty to tell a few thousand people apart, too few to be a useful fingerprint on their own.
    # hmac.digest is OpenSSL's one-shot HMAC (no Python HMAC object per term); the cache serves the terms every
    # webhook repeats (the shop's and the channel's own ids, a customer writing again): a webhook is indexed as
    # it is stored, under the write lock.
    return hmac.digest(key, term.encode(), hashlib.sha256)[:8].hex()
