"""Bearer tokens for the admin API and ``/metrics``. Tokens are shown once at creation; only their SHA-256 is stored.

A token has a scope: ``read`` (GET, HEAD, OPTIONS only: dashboards, Prometheus) or ``write`` (everything). It may
expire, and it can be revoked (kept, for the record, but refused). ``last_used_at`` is written at most once a minute
per token: on SQLite every write queues for the one write lock (and, with ``synchronous=FULL``, syncs the disk).

A token belongs to a workspace and sees only its shops and what belongs to them; it may also be restricted to one
shop connection of it, and is then refused operations that span all shops (:mod:`connector.api.scope`). Its role
(``owner`` or ``agent``, :mod:`connector.roles`) decides which operations it may make at all.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Literal

from flask import Response, g, jsonify, request
from sqlalchemy import or_, select, update

from connector import roles
from connector.api import scope as visibility
from connector.db.models import ApiToken, ShopConnection
from connector.errors import NotFound
from connector.workspaces import operator_of, resolve

if TYPE_CHECKING:
    from connector.runtime import Runtime

PREFIX = "cs_"
Scope = Literal["read", "write"]
SCOPES: tuple[Scope, ...] = ("read", "write")
#: Methods a ``read`` token may use.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``last_used_at`` is at most this stale.
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenRefused(Exception):
    """The token may not do this: ``status`` (401 unknown, expired or revoked; 403 out of scope) and ``reason``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as ``connector tokens list`` shows it (never the token itself)."""

    id: int
    name: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    #: The one shop connection the token may see, or ``None`` for all of its workspace.
    shop_connection_id: int | None = None
    workspace_id: int = 0
    role: str = "owner"

    def state(self, now: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    rt: Runtime,
    name: str,
    *,
    scope: Scope = "write",
    expires_in: timedelta | None = None,
    shop_connection_id: int | None = None,
    workspace: int | str | None = None,
    role: str = "owner",
) -> str:
    """Create a token and return it in clear (the only time it is seen). It belongs to ``workspace`` (id or name;
    default: the shop's, or see :func:`connector.workspaces.resolve`). With ``shop_connection_id`` the token is
    restricted to that shop connection; raises :class:`NotFound` when there is no such shop connection in the
    workspace, :class:`~connector.errors.SettingsError` when the workspace is unknown or not named."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    role = roles.check_role(role)
    token = PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + expires_in if expires_in is not None else None
    with rt.db.session() as session:
        shop = session.get(ShopConnection, shop_connection_id) if shop_connection_id is not None else None
        if shop_connection_id is not None and shop is None:
            raise NotFound(f"no shop connection {shop_connection_id}", status=404)
        workspace_id = shop.workspace_id if shop is not None and workspace is None else resolve(session, workspace)
        if shop is not None and shop.workspace_id != workspace_id:
            raise NotFound(f"no shop connection {shop_connection_id} in workspace {workspace}", status=404)
        session.add(
            ApiToken(
                name=name,
                token_hash=_digest(token),
                scope=scope,
                expires_at=expires_at,
                shop_connection_id=shop_connection_id,
                workspace_id=workspace_id,
                role=role,
            )
        )
    return token


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(**{f.name: getattr(row, f.name) for f in fields(TokenInfo)})


def list_tokens(rt: Runtime, *, workspace_id: int | None = None) -> list[TokenInfo]:
    """Every token (of one workspace), oldest first, revoked and expired ones too."""
    query = select(ApiToken).order_by(ApiToken.id)
    if workspace_id is not None:
        query = query.where(ApiToken.workspace_id == workspace_id)
    with rt.db.session() as session:
        return [_info(row) for row in session.scalars(query)]


def revoke_token(rt: Runtime, token_id: int) -> TokenInfo | None:
    """Revoke a token at once (it stays listed); ``None`` when there is no such token."""
    with rt.db.session() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        return _info(row)


def authenticate(rt: Runtime, token: str, method: str) -> TokenInfo:
    """The token's record if it may make a ``method`` request; raises :class:`TokenRefused` otherwise."""
    return _authenticate(rt, token, method)[0]


def _authenticate(rt: Runtime, token: str, method: str) -> tuple[TokenInfo, bool]:
    """:func:`authenticate`, and whether the token's workspace is the operator's."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
        if row is None:
            raise TokenRefused(401, "invalid token")
        info = _info(row)
        operator = operator_of(session, info.workspace_id)
        if info.revoked_at is not None:
            raise TokenRefused(401, f"token {info.name!r} was revoked")
        if info.expires_at is not None and info.expires_at <= now:
            raise TokenRefused(401, f"token {info.name!r} expired at {info.expires_at.isoformat()}")
        if info.scope != "write" and method.upper() not in READ_METHODS:
            raise TokenRefused(403, f"token {info.name!r} is read-only: {method} needs a write token")
        stale = now - LAST_USED_PRECISION
        if info.last_used_at is None or info.last_used_at <= stale:
            # Conditional, so concurrent requests of one token write it once.
            session.execute(
                update(ApiToken)
                .where(ApiToken.id == info.id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale))
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
    return info, operator


def check_token(rt: Runtime, token: str, method: str = "GET") -> bool:
    """Whether ``token`` may make a ``method`` request."""
    try:
        authenticate(rt, token, method)
    except TokenRefused:
        return False
    return True


def require_bearer(rt: Runtime, *, all_shops: str | None = None) -> tuple[Response, int, dict[str, str]] | None:
    """For a ``before_request``: ``None`` when the request's ``Authorization: Bearer`` token may make it, otherwise
    the error response (401 or 403, with the reason).

    Binds the request's visible shops (:mod:`connector.api.scope`) from the token, refuses an agent token what its
    role does not allow (:mod:`connector.roles`), and refuses an operation that spans shops to a token that may not
    make it: one in :data:`~connector.api.scope.GLOBAL_OPERATIONS` to a shop token, one in
    :data:`~connector.api.scope.DEPLOYMENT_OPERATIONS` outside the operator's workspace, or any when the caller
    gives ``all_shops`` (the reason, e.g. for ``/metrics``)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refusal(401, "missing bearer token (Authorization: Bearer <token>; connector tokens create)")
    try:
        info, operator = _authenticate(rt, token.strip(), request.method)
    except TokenRefused as exc:
        return _refusal(exc.status, exc.reason)
    visibility.bind(
        visibility.Visibility(info.workspace_id, shop_id=info.shop_connection_id, operator=operator, role=info.role)
    )
    g.api_token_name = info.name  # who acted, for what the request records (an inbox reply's author)
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    refused_role = roles.api_refusal(info.role, request.method, rule)
    if refused_role is not None:
        return _refusal(403, f"token {info.name!r} has the role {info.role}: {refused_role}")
    refusal = visibility.global_refusal(all_shops)
    if refusal is None:
        return None
    if info.shop_connection_id is not None:
        return _refusal(
            403, f"token {info.name!r} is restricted to shop connection {info.shop_connection_id}: {refusal}"
        )
    return _refusal(403, f"token {info.name!r}: {refusal}")


def _refusal(status: int, message: str) -> tuple[Response, int, dict[str, str]]:
    """A 401/403 in the shape of every other API error (the OpenAPI document's ``Error`` schema)."""
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    headers = {"WWW-Authenticate": 'Bearer realm="connector"'} if status == 401 else {}
    return jsonify(body), status, headers
