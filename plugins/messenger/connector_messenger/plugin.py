"""Hook implementations of the Messenger / Instagram channel plugin."""

from __future__ import annotations

from collections.abc import Sequence

from connector_messenger.adapter import InstagramAdapter, MessengerAdapter

from connector import hookimpl
from connector.adapters import ChannelAdapter


@hookimpl
def connector_register_channel_adapters() -> Sequence[type[ChannelAdapter]]:
    """Messenger and Instagram, two adapters over the same Send API."""
    return [MessengerAdapter, InstagramAdapter]
