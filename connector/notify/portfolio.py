"""Business portfolios: WhatsApp's messaging (reach) limit is shared by every number of a portfolio (since
2025-10-07, platform-changes-2026.md §2).

A channel connection names its portfolio with the ``business_portfolio_id`` setting; without one, the numbers of
one WhatsApp Business Account count as one portfolio (a WABA belongs to exactly one), and a connection naming
neither is a portfolio of its own. The limit is what the channel last reported for the portfolio (the Graph API's
``whatsapp_business_manager_messaging_limit``, read every ``messaging_limit_refresh_minutes``, or a
``business_capability_update`` webhook); until it reported one, ``[notify] reach_limit``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connector.db.models import ChannelConnection
from connector.db.models_notify import PortfolioLimit

if TYPE_CHECKING:
    from connector.notify.settings import NotifySettings
    from connector.runtime import Runtime

log = logging.getLogger(__name__)


def portfolio_key(channel_id: int, settings: Mapping[str, Any]) -> str:
    """The key the connections of one portfolio share."""
    portfolio = str(settings.get("business_portfolio_id") or "").strip()
    if portfolio:
        return f"portfolio:{portfolio}"[:128]
    waba = str(settings.get("waba_id") or "").strip()
    if waba:
        return f"waba:{waba}"[:128]
    return f"channel:{channel_id}"


@dataclass(slots=True)
class Portfolio:
    """A channel connection's portfolio: its key, the connections sharing it and the limit in force."""

    key: str
    channel_ids: list[int]
    reach_limit: int


def portfolio_of(session: Session, settings: NotifySettings, channel_id: int) -> Portfolio:
    """The portfolio of ``channel_id`` (read in ``session``'s transaction)."""
    rows = session.execute(select(ChannelConnection.id, ChannelConnection.channel, ChannelConnection.settings)).all()
    keys = {row.id: (row.channel, portfolio_key(row.id, row.settings or {})) for row in rows}
    channel, key = keys.get(channel_id, ("", f"channel:{channel_id}"))
    members = sorted(cid for cid, (kind, other) in keys.items() if kind == channel and other == key) or [channel_id]
    stored = session.scalar(select(PortfolioLimit.reach_limit).where(PortfolioLimit.portfolio == key))
    return Portfolio(key, members, settings.reach_limit if stored is None else int(stored))


def store_limit(session: Session, rt: Runtime, channel_id: int, limit: int, *, source: str, raw: str = "") -> None:
    """Record the limit the channel reported for ``channel_id``'s portfolio (0 = unlimited)."""
    settings = session.scalar(select(ChannelConnection.settings).where(ChannelConnection.id == channel_id))
    key = portfolio_key(channel_id, settings or {})
    values = {"reach_limit": int(limit), "source": source, "raw": raw[:64], "updated_at": datetime.now(UTC)}
    table = PortfolioLimit.__table__
    if session.scalar(select(table.c.portfolio).where(table.c.portfolio == key)) is not None:
        session.execute(update(table).where(table.c.portfolio == key).values(**values))
    else:
        session.execute(table.insert(), {"portfolio": key, **values})
    log.info("portfolio %s: messaging limit %s (%s, %s)", key, limit or "unlimited", source, raw)


def refresh_limits(rt: Runtime) -> dict[str, int]:
    """Read every enabled WhatsApp connection's portfolio limit from the channel's API and store it; returns the
    limits read by portfolio key. A connection whose read fails keeps the limit it had (logged)."""
    with rt.db.session() as session:
        channels = (
            session.execute(select(ChannelConnection.id).where(ChannelConnection.enabled.is_(True))).scalars().all()
        )
    found: dict[str, int] = {}
    for channel_id in channels:
        adapter = rt.connections.channel_adapter(channel_id)
        read = getattr(adapter, "messaging_limit", None)
        if read is None:
            continue
        try:
            limit, raw = read()
        except Exception as exc:  # a channel's API trouble must not stop the others' refresh
            log.warning("channel %s: reading the messaging limit failed: %s", channel_id, exc)
            continue
        if limit is None:
            continue
        with rt.db.session() as session:
            store_limit(session, rt, channel_id, limit, source="api", raw=raw)
            settings = session.scalar(select(ChannelConnection.settings).where(ChannelConnection.id == channel_id))
        found[portfolio_key(channel_id, settings or {})] = limit
    return found
