"""Finding whom to notify about an order: the chat the customer bought in, else the WhatsApp contact of their phone."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import cast

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from connector.db.models import ChannelConnection, Contact
from connector.db.models_conversation import ChatOrder, ConversationState
from connector.phones import read_phone

#: Channels on which a business may start a conversation with a template (phone-number based).
PHONE_CHANNELS = ("whatsapp",)

_CONTACTS = Contact.__table__
_CONTACTS_BY_ID = select(_CONTACTS).where(_CONTACTS.c.id.in_(bindparam("ids", expanding=True)))


def contacts_by_id(session: Session, ids: Collection[int]) -> dict[int, Contact]:
    """The contacts with these ids, read as plain rows: every column by name, like the ORM object, but nothing to
    build or track (a fan-out reads hundreds at a time under the write lock). Read-only: change them with UPDATEs."""
    if not ids:
        return {}
    return {row.id: cast(Contact, row) for row in session.execute(_CONTACTS_BY_ID, {"ids": list(ids)})}


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


def contact_for_typed_phone(
    session: Session,
    shop_connection_id: int,
    typed: str | None,
    country: str | None,
    *,
    name: str = "",
    locale: str | None = None,
) -> Contact | None:
    """The WhatsApp contact for a phone number as a customer typed it into a shop order.

    Read into E.164 with the order's ``country`` (:func:`connector.phones.read_phone`): the contact of that number.
    A number that cannot be read is never guessed: the contact is one flagged with the reason
    (``Contact.phone_problem``, under a ``unusable:<digits>`` id no WhatsApp user has), so the notification
    is recorded and skipped with that reason instead of going to a stranger. ``None`` when the order has no
    phone number or the shop has no WhatsApp channel."""
    if not (typed or "").strip():
        return None
    reading = read_phone(typed, country)
    if reading.e164 is not None:
        return contact_for_phone(session, shop_connection_id, reading.e164, name=name, locale=locale)
    channel_id = _first_phone_channel(session, shop_connection_id)
    if channel_id is None:
        return None
    user_id = f"unusable:{digits(typed)[:60] or 'none'}"
    found = session.scalar(
        select(Contact).where(Contact.channel_connection_id == channel_id, Contact.channel_user_id == user_id)
    )
    if found is None:
        found = Contact(channel_connection_id=channel_id, channel_user_id=user_id, name=name, locale=locale)
        session.add(found)
    # No ``phone``: nothing may fall back to the digits of what was typed (``+5555555555`` is someone else).
    found.phone, found.phone_problem = None, reading.problem
    session.flush()
    return found


def _first_phone_channel(session: Session, shop_connection_id: int) -> int | None:
    return session.scalar(
        select(ChannelConnection.id)
        .where(
            ChannelConnection.shop_connection_id == shop_connection_id,
            ChannelConnection.channel.in_(PHONE_CHANNELS),
            ChannelConnection.enabled.is_(True),
        )
        .order_by(ChannelConnection.id)
        .limit(1)
    )


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
