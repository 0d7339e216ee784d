"""Hook implementations of the WhatsApp Cloud API channel plugin."""

from __future__ import annotations

from connector_whatsapp.adapter import WhatsAppAdapter

from connector import hookimpl
from connector.adapters import ChannelAdapter


@hookimpl
def connector_register_channel_adapters() -> list[type[ChannelAdapter]]:
    """The WhatsApp channel adapter."""
    return [WhatsAppAdapter]
