"""What a request may see: the request-scoped filter every admin API and dashboard query goes through.

A request is bound once (:func:`bind`) to a :class:`Visibility`: the workspace of its API token
(:func:`connector.api.auth.require_bearer`) or of its dashboard user (:mod:`connector.dashboard.web`), narrowed to one
shop connection for a shop token (``connector tokens create NAME --shop ID``). It then sees the shops of that
workspace (or that one shop) and what belongs to them: their channel connections, the contacts, messages, orders and
catalog items of those, their sync runs, subscriptions and webhooks. Queries add the ``*_visible`` clauses below, so
rows of another workspace are neither listed nor found (a 404, which does not reveal that they exist).

Operations that span every shop are listed in :data:`GLOBAL_OPERATIONS` (refused to a shop token) and
:data:`DEPLOYMENT_OPERATIONS` (deployment-wide settings: refused outside the operator's workspace), with a 403 before
they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import ColumnElement, and_, false, or_, select

from connector.db.models import ChannelConnection, Contact, ShopConnection

#: ``(method, URL rule)`` of the operations that act on no one shop, with why a shop token may not use them.
GLOBAL_OPERATIONS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/connections/shops"): "creating a shop connection needs a token for all shops",
    ("GET", "/api/v1/plugins/"): "plugin administration spans all shops",
    # Segments are the workspace's, over the contacts of all its shops (a campaign then sends from one channel).
    ("POST", "/api/v1/segments"): "segments span all shops of the workspace: creating one needs a token for all shops",
    ("POST", "/api/v1/segments/preview"): "segments span all shops of the workspace: previewing one needs a token for "
    "all shops",
}
#: ``(method, URL rule)`` of the operations on what the whole deployment shares (plugins), for the operator only.
DEPLOYMENT_OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/plugins/"): "plugin administration is deployment-wide: only the operator's workspace may",
}


@dataclass(frozen=True, slots=True)
class Visibility:
    """Who is asking: their workspace, the one shop a shop token is narrowed to, whether the workspace is the
    operator's, and the role (``owner`` or ``agent``, :mod:`connector.roles`)."""

    workspace_id: int
    shop_id: int | None = None
    operator: bool = False
    role: str = "owner"


#: What code outside a request (a script, a benchmark, a test calling the page queries) has said it may see.
_outside_requests: ContextVar[Visibility | None] = ContextVar("connector_visibility", default=None)


def bind(visibility: Visibility) -> None:
    """Set what this request may see."""
    g.visibility = visibility


@contextmanager
def binding(visibility: Visibility) -> Iterator[Visibility]:
    """See as ``visibility`` outside a request, for the duration of the ``with`` block (inside a request, the
    request's own binding wins)."""
    token = _outside_requests.set(visibility)
    try:
        yield visibility
    finally:
        _outside_requests.reset(token)


def bound() -> Visibility | None:
    """What this request (or the enclosing :func:`binding`) may see, or ``None`` when nothing was bound (the CLI,
    the worker)."""
    found = g.get("visibility") if has_request_context() else _outside_requests.get()
    return found if isinstance(found, Visibility) else None


def current() -> Visibility:
    """What this request may see.

    Fails closed: outside a request (and a :func:`binding`), or in a request that was never authenticated, this
    raises instead of showing everything."""
    found = bound()
    if found is None:
        raise RuntimeError("the request's visibility is bound at authentication; this request was not authenticated")
    return found


def visible_shop() -> int | None:
    """The one shop connection a shop token may see, or ``None`` when the request sees its whole workspace."""
    return current().shop_id


def global_refusal(all_shops: str | None = None) -> str | None:
    """Why this request may not make an operation that spans shops (``all_shops``: the caller's own reason for
    refusing it to a shop token, e.g. ``/metrics``), or ``None``."""
    seen = current()
    rule = request.url_rule.rule if request.url_rule is not None else ""
    operation = (request.method.upper(), rule)
    if seen.shop_id is not None and (all_shops or operation in GLOBAL_OPERATIONS):
        return all_shops or GLOBAL_OPERATIONS[operation]
    if not seen.operator and (all_shops or operation in DEPLOYMENT_OPERATIONS):
        return (
            f"{all_shops} (deployment-wide: only the operator's workspace may)"
            if all_shops
            else DEPLOYMENT_OPERATIONS[operation]
        )
    return None


def shop_visible(column: Any) -> ColumnElement[bool]:
    """``column`` (a shop connection id) is of a visible shop."""
    seen = current()
    in_workspace = column.in_(select(ShopConnection.id).where(ShopConnection.workspace_id == seen.workspace_id))
    return in_workspace if seen.shop_id is None else and_(column == seen.shop_id, in_workspace)


def channel_visible(column: Any) -> ColumnElement[bool]:
    """``column`` (a channel connection id) is of a visible shop."""
    return column.in_(select(ChannelConnection.id).where(shop_visible(ChannelConnection.shop_connection_id)))


def contact_visible(column: Any) -> ColumnElement[bool]:
    """``column`` (a contact id) is of a visible shop."""
    return column.in_(select(Contact.id).where(channel_visible(Contact.channel_connection_id)))


def connection_visible(kind_column: Any, id_column: Any) -> ColumnElement[bool]:
    """``(kind_column, id_column)`` (``shop`` or ``channel`` and its id, as webhooks store them) is of a visible
    shop."""
    return or_(
        and_(kind_column == "shop", shop_visible(id_column)),
        and_(kind_column == "channel", channel_visible(id_column)),
    )


#: The id column and visibility clause of each kind of object :func:`is_visible` checks.
_KINDS: dict[str, tuple[Any, Any]] = {
    "shop": (ShopConnection.id, shop_visible),
    "channel": (ChannelConnection.id, channel_visible),
    "contact": (Contact.id, contact_visible),
}


def visible_clause(kind: str, object_id: int) -> ColumnElement[bool]:
    """A clause true only for the object ``kind`` (``shop``, ``channel`` or ``contact``) ``object_id`` when it
    exists and is visible."""
    if kind not in _KINDS:
        return false()
    column, visible = _KINDS[kind]
    return and_(column == object_id, visible(column))


def is_visible(session: Any, kind: str, object_id: int) -> bool:
    """Whether the object ``kind`` ``object_id`` exists and is visible (a request that gets ``False`` answers 404:
    someone else's object looks exactly like a missing one)."""
    if kind not in _KINDS:
        return False
    column, _ = _KINDS[kind]
    return session.scalar(select(column).where(visible_clause(kind, object_id))) is not None
