"""Secrets at rest: API tokens and app secrets are encrypted with Fernet before they reach the database.

Keys come from ``[security] encryption_keys`` (or ``CONNECTOR_SECURITY__ENCRYPTION_KEYS``, comma
separated), newest first: values are encrypted with the first key and decrypted with any of them, so
a key can be rotated with ``connector rotate-keys`` and then dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
