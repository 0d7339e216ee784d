"""Finding whom to notify about an order: the chat the customer bought in, else the WhatsApp contact of their phone."""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from connector.db.models import ChannelConnection, Contact
from connector.db.models_conversation import ChatOrder, ConversationState

#: Channels on which a business may start a conversation with a template (phone-number based).
PHONE_CHANNELS = ("whatsapp",)


def digits(phone: str | None) -> str:
    """``+49 151 1234-5678`` -> ``4915112345678``."""
    return re.sub(r"\D", "", phone or "")


def contact_for_phone(
    session: Session, shop_connection_id: int, phone: str | None, *, name: str = "", locale: str | None = None
) -> Contact | None:
    """The contact with this phone number on the shop's first enabled WhatsApp channel (also one known by a
    business-scoped user id who shared it), created if new.

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
    # Keyed by the number, or a customer WhatsApp knows to us by a business-scoped user id who shared this number.
    found = session.scalar(
        select(Contact)
        .where(
            Contact.channel_connection_id.in_(channels),
            or_(Contact.channel_user_id == number, Contact.phone == "+" + number),
        )
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


def contact_for_order(
    session: Session, shop_connection_id: int, order_external_id: str, reference: str | None = None
) -> Contact | None:
    """The contact who placed this order in chat (on any channel: a Messenger PSID, an Instagram IGSID, a WhatsApp
    number), while their channel connection is enabled; ``None`` for orders placed elsewhere.

    Found by the shop's order id, or by the cart reference the chat gave the shop (``Order.reference``)."""
    matches = [ChatOrder.order_external_id == order_external_id]
    if reference:
        matches.append(ChatOrder.reference == reference)
    return session.scalar(
        select(Contact)
        .join(ChatOrder, ChatOrder.contact_id == Contact.id)
        .join(ChannelConnection, ChannelConnection.id == Contact.channel_connection_id)
        .where(
            ChatOrder.shop_connection_id == shop_connection_id,
            or_(*matches),
            ChannelConnection.enabled.is_(True),
        )
        .order_by(ChatOrder.id.desc())
        .limit(1)
    )


def chat_language(session: Session, contact: Contact) -> str | None:
    """The language a Messenger / Instagram contact chatted in (``de``/``en``) when the channel told no locale.

    Those channels give no locale; a customer who chatted in German is then notified in German (their texts exist
    in every language). ``None`` on phone channels, where the language also picks the approved template, which may
    not exist in the chat's language: there the contact's locale or the default language stays."""
    return chat_languages(session, [contact.id]).get(contact.id)


def chat_languages(session: Session, contact_ids: list[int]) -> dict[int, str]:
    """:func:`chat_language` for many contacts in one query (a back-in-stock wave's chunk)."""
    if not contact_ids:
        return {}
    rows = session.execute(
        select(Contact.id, ConversationState.language)
        .join(ConversationState, ConversationState.contact_id == Contact.id)
        .join(ChannelConnection, ChannelConnection.id == Contact.channel_connection_id)
        .where(
            Contact.id.in_(contact_ids),
            Contact.locale.is_(None),
            ChannelConnection.channel.not_in(PHONE_CHANNELS),
            ConversationState.language.is_not(None),
        )
    )
    return {contact_id: str(language) for contact_id, language in rows}
