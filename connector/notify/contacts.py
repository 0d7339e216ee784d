"""Finding the WhatsApp contact a shop customer's phone number belongs to."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.db.models import ChannelConnection, Contact

#: Channels on which a business may start a conversation with a template (phone-number based).
PHONE_CHANNELS = ("whatsapp",)


def digits(phone: str | None) -> str:
    """``+49 151 1234-5678`` -> ``4915112345678``."""
    return re.sub(r"\D", "", phone or "")


def contact_for_phone(
    session: Session, shop_connection_id: int, phone: str | None, *, name: str = "", locale: str | None = None
) -> Contact | None:
    """The contact with this phone number on the shop's first enabled WhatsApp channel, created if new.

    ``None`` when the number is empty or the shop has no WhatsApp channel."""
    number = digits(phone)
    if len(number) < 6:
        return None
    channels = list(
        session.scalars(
            select(ChannelConnection.id)
            .where(
                ChannelConnection.shop_connection_id == shop_connection_id,
                ChannelConnection.channel.in_(PHONE_CHANNELS),
                ChannelConnection.enabled.is_(True),
            )
            .order_by(ChannelConnection.id)
        )
    )
    if not channels:
        return None
    found = session.scalar(
        select(Contact)
        .where(Contact.channel_connection_id.in_(channels), Contact.channel_user_id == number)
        .order_by(Contact.id)
        .limit(1)
    )
    if found is not None:
        return found
    contact = Contact(
        channel_connection_id=channels[0], channel_user_id=number, phone="+" + number, name=name, locale=locale
    )
    session.add(contact)
    session.flush()
    return contact
