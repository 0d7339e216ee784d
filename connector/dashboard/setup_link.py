"""One-time links to create the first dashboard user in the browser.

``connector init`` and ``connector dashboard setup-link`` print one; only the SHA-256 of its token is stored.
The first-user page needs a valid token, so reaching the dashboard before its owner (or through a proxy that
makes every visitor look local) is no way in. The token is consumed in the same transaction that creates
the user (see :func:`connector.dashboard.users.create_first_user`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import delete, select

from connector.db.models_dashboard import SetupToken

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime


def digest(token: str) -> str:
    """What is stored of ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(rt: Runtime) -> str:
    """A fresh setup token, valid for ``[dashboard] setup_link_hours``; every older one stops working."""
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(hours=rt.config.dashboard.setup_link_hours)
    with rt.db.session() as session:
        session.execute(delete(SetupToken))
        session.add(SetupToken(token_hash=digest(token), expires_at=expires))
    return token


def link(rt: Runtime, token: str) -> str:
    """The first-user page's URL carrying ``token`` (on ``[server] public_url``)."""
    return f"{rt.config.public_url}{rt.config.dashboard.url_prefix}/first-user?token={quote(token)}"


def is_valid(rt: Runtime, token: str) -> bool:
    """Whether ``token`` would be accepted now."""
    if not token:
        return False
    with rt.db.session() as session:
        expires = session.scalar(select(SetupToken.expires_at).where(SetupToken.token_hash == digest(token)))
    return expires is not None and expires > datetime.now(UTC)


def consume(session: Session, token: str) -> bool:
    """Delete ``token`` inside the caller's transaction; ``True`` if it existed and had not expired. Concurrent
    consumers of one token: exactly one gets ``True`` (the row delete is the guard)."""
    if not token:
        return False
    result = session.execute(
        delete(SetupToken).where(SetupToken.token_hash == digest(token), SetupToken.expires_at > datetime.now(UTC))
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
