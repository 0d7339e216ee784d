"""The shops a request may see: the request-scoped filter every admin API query goes through.

:func:`connector.api.auth.require_bearer` binds it once per request from the token: a token restricted to one shop
connection (``connector tokens create NAME --shop ID``) sees that shop and what belongs to it (its channel
connections, their contacts, messages and catalog items, its sync runs, subscriptions and webhooks); any other token
sees everything. Resources add the ``*_visible`` clauses below to their queries, so rows of another shop are neither
listed nor found (a 404, which does not reveal that they exist). Operations that span every shop are listed in
:data:`GLOBAL_OPERATIONS` and refused (403) to a shop token before they run.
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import ColumnElement, and_, or_, select, true

from connector.db.models import ChannelConnection, Contact

#: ``(method, URL rule)`` of the operations that act on no one shop, with why a shop token may not use them.
GLOBAL_OPERATIONS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/connections/shops"): "creating a shop connection needs a token for all shops",
    ("GET", "/api/v1/plugins/"): "plugin administration spans all shops",
}

_UNBOUND = object()


def bind(shop_id: int | None) -> None:
    """Set the request's visible shops: one shop connection id, or ``None`` for all."""
    g.visible_shop = shop_id


def visible_shop() -> int | None:
    """The one shop connection the request may see, or ``None`` when it may see all.

    Fails closed: outside a request, or in a request whose token was never checked, this raises instead of showing
    everything."""
    shop = g.get("visible_shop", _UNBOUND) if has_request_context() else _UNBOUND
    if shop is _UNBOUND:
        raise RuntimeError("the visible shops are bound by require_bearer; this request was not authenticated")
    return shop  # type: ignore[return-value]


def global_refusal(all_shops: str | None = None) -> str | None:
    """Why a shop token may not make this request (``all_shops``: the caller's own reason), or ``None``."""
    if visible_shop() is None:
        return None
    if all_shops:
        return all_shops
    rule = request.url_rule.rule if request.url_rule is not None else ""
    return GLOBAL_OPERATIONS.get((request.method.upper(), rule))


def _channels_of(shop: int) -> Any:
    return select(ChannelConnection.id).where(ChannelConnection.shop_connection_id == shop)


def shop_visible(column: Any) -> ColumnElement[bool]:
    """``column`` (a shop connection id) is of a visible shop."""
    shop = visible_shop()
    return true() if shop is None else column == shop


def channel_visible(column: Any) -> ColumnElement[bool]:
    """``column`` (a channel connection id) is of a visible shop."""
    shop = visible_shop()
    return true() if shop is None else column.in_(_channels_of(shop))


def contact_visible(column: Any) -> ColumnElement[bool]:
    """``column`` (a contact id) is of a visible shop."""
    shop = visible_shop()
    if shop is None:
        return true()
    return column.in_(select(Contact.id).where(Contact.channel_connection_id.in_(_channels_of(shop))))


def connection_visible(kind_column: Any, id_column: Any) -> ColumnElement[bool]:
    """``(kind_column, id_column)`` (``shop`` or ``channel`` and its id, as webhooks store them) is of a visible
    shop."""
    shop = visible_shop()
    if shop is None:
        return true()
    return or_(
        and_(kind_column == "shop", id_column == shop),
        and_(kind_column == "channel", id_column.in_(_channels_of(shop))),
    )
