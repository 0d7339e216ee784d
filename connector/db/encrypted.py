"""Columns encrypted at rest with the Fernet keys of ``[security] encryption_keys`` (:class:`SecretBox`).

Message texts, addresses, chat carts and raw webhook payloads are personal data: they are encrypted when written
and decrypted when read, by the column type itself, so ORM and Core statements alike never see ciphertext. The
keys live on the engine's dialect (set by :class:`connector.db.Database`), so two runtimes with different keys in
one process never mix them up. What the dashboard searches is kept beside the ciphertext as a flag or a keyed
hash (blind index), never as plaintext.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, LargeBinary, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from connector.errors import ConfigError
from connector.secrets import SecretBox

#: The attribute of an engine's dialect holding its :class:`SecretBox`.
BOX_ATTRIBUTE = "connector_secrets"


def box_of(dialect: Dialect) -> SecretBox:
    """The keys of the engine ``dialect`` belongs to."""
    found = getattr(dialect, BOX_ATTRIBUTE, None)
    if found is None:
        raise ConfigError(
            "personal data is encrypted at rest: open the database with encryption keys "
            "(security.encryption_keys) to read or write it"
        )
    return found


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value stored as a JSON string holding its Fernet token (``None`` stays ``null``)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else box_of(dialect).encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        # Only a string is a token: every plaintext value of these columns is an object, list or null.
        return box_of(dialect).decrypt(value) if isinstance(value, str) else value


class EncryptedBytes(TypeDecorator[bytes]):
    """Raw bytes (a webhook body) stored as their Fernet token."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else box_of(dialect).encrypt_bytes(bytes(value))

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else box_of(dialect).decrypt_bytes(bytes(value))


class EncryptedText(TypeDecorator[str]):
    """A text (what a customer wrote) stored as its Fernet token."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else box_of(dialect).encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(box_of(dialect).decrypt(value))
