"""Store a channel connection from an approval: a new one, or (connected before) the existing one with new settings.

Connecting the same number, Page or Instagram account again (a renewed token, a lost PIN) keeps the connection's
id, so its webhook URL, contacts, orders and outbox stay. :meth:`Stored.undo` takes the change back when a later
step of the onboarding fails: a new connection is removed, an existing one gets its old settings back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.db.models import ChannelConnection
    from connector.runtime import Runtime


@dataclass
class Stored:
    """A connection just stored, and how to take that back."""

    rt: Runtime
    row: ChannelConnection
    previous: dict[str, Any] | None  # None: the connection is new

    def undo(self) -> None:
        if self.previous is None:
            self.rt.connections.delete("channel", self.row.id)
        else:
            self.rt.connections.update_settings("channel", self.row.id, self.previous)


def store_channel(
    rt: Runtime, *, shop_connection_id: int, channel: str, key: str, name: str, settings: dict[str, Any]
) -> Stored:
    """Create the ``channel`` connection, or update the shop's one whose ``key`` setting has the same value."""
    for row in rt.connections.channels(shop_connection_id):
        if row.channel != channel:
            continue
        current = rt.connections.settings_of(row)
        if str(current.get(key) or "") == str(settings[key]):
            updated = rt.connections.update_settings("channel", row.id, settings, name=name)
            return Stored(rt, updated, current)  # type: ignore[arg-type]
    row = rt.connections.create_channel(
        shop_connection_id=shop_connection_id, name=name, channel=channel, settings=settings
    )
    return Stored(rt, row, None)
