"""Which tenant a task belongs to: the key the relay uses to share workers fairly between shops.

Tasks carry ids, so the tenant is found from those ids: ``shop_connection_id`` directly, a channel
connection's shop, an outbound message's channel's shop, a webhook event's connection. Channel -> shop
is cached per process (a channel never moves to another shop). Tasks with no shop are grouped by kind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.db.models import ChannelConnection, OutboundMessage, WebhookEvent


class TenantGrouper:
    """Callable ``(session, kind, args) -> "shop:<id>" | kind``; set as ``TaskQueue.grouper``."""

    def __init__(self) -> None:
        self._channel_shop: dict[int, int] = {}

    def _shop_of_channel(self, session: Session, channel_id: int) -> int | None:
        if channel_id not in self._channel_shop:
            shop = session.scalar(
                select(ChannelConnection.shop_connection_id).where(ChannelConnection.id == channel_id)
            )
            if shop is None:
                return None
            self._channel_shop[channel_id] = shop
        return self._channel_shop[channel_id]

    def __call__(self, session: Session, kind: str, args: dict[str, Any]) -> str:
        """The tenant group of a new task (looked up inside the enqueuing transaction)."""
        shop: int | None = None
        if isinstance(args.get("shop_connection_id"), int):
            shop = args["shop_connection_id"]
        elif isinstance(args.get("channel_connection_id"), int):
            shop = self._shop_of_channel(session, args["channel_connection_id"])
        elif isinstance(args.get("message_id"), int):
            channel = session.scalar(
                select(OutboundMessage.channel_connection_id).where(OutboundMessage.id == args["message_id"])
            )
            shop = self._shop_of_channel(session, channel) if channel is not None else None
        elif isinstance(args.get("event_id"), int):
            row = session.execute(
                select(WebhookEvent.connection_kind, WebhookEvent.connection_id).where(
                    WebhookEvent.id == args["event_id"]
                )
            ).first()
            if row is not None:
                shop = row[1] if row[0] == "shop" else self._shop_of_channel(session, row[1])
        return f"shop:{shop}" if shop is not None else kind
