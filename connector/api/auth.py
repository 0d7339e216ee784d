"""Bearer tokens for the admin API. Tokens are shown once at creation; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from connector.db.models import ApiToken

if TYPE_CHECKING:
    from connector.runtime import Runtime

PREFIX = "cs_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(rt: Runtime, name: str) -> str:
    """Create a token and return it in clear (the only time it is seen)."""
    token = PREFIX + secrets.token_urlsafe(32)
    with rt.db.session() as session:
        session.add(ApiToken(name=name, token_hash=_digest(token)))
    return token


def check_token(rt: Runtime, token: str) -> bool:
    digest = _digest(token)
    with rt.db.session() as session:
        found = session.scalar(select(ApiToken.id).where(ApiToken.token_hash == digest))
        if found is None:
            return False
        session.execute(update(ApiToken).where(ApiToken.id == found).values(last_used_at=datetime.now(UTC)))
    return True
