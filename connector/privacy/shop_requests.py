"""Privacy requests a shop relays (Shopify's mandatory compliance webhooks): erase a customer, erase everything of a
shop, or note a customer's request for their data. Erasing goes through :func:`connector.privacy.erase.erase_contact`,
the same code as the dashboard's "Erase" button."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import select

from connector.db.models import ChannelConnection, Contact
from connector.privacy.erase import erase_contact
from connector.privacy.identifiers import phone_term

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger(__name__)


def _shop_contacts(rt: Runtime, shop_id: int) -> list[Contact]:
    with rt.db.session() as session:
        return list(
            session.scalars(
                select(Contact)
                .join(ChannelConnection, Contact.channel_connection_id == ChannelConnection.id)
                .where(ChannelConnection.shop_connection_id == shop_id)
            )
        )


def contacts_of(rt: Runtime, shop_id: int, customer: Mapping[str, str]) -> list[int]:
    """The contacts of the shop's channels that are the customer: the same phone number (its last nine digits, as
    the blind index compares them). Messenger and Instagram ids carry no phone number, so they cannot match."""
    wanted = phone_term(customer.get("phone") or "")
    if wanted is None:
        return []
    return [
        c.id
        for c in _shop_contacts(rt, shop_id)
        if wanted in {phone_term(c.phone or ""), phone_term(c.channel_user_id or "")}
    ]


def redact_customer(rt: Runtime, shop_id: int, customer: Mapping[str, str]) -> int:
    """Erase every contact of the shop that is this customer; how many were erased."""
    erased = sum(erase_contact(rt, contact_id) for contact_id in contacts_of(rt, shop_id, customer))
    log.warning("shop connection %s: customers/redact erased %d contact(s)", shop_id, erased)
    return erased


def redact_shop(rt: Runtime, shop_id: int) -> int:
    """Erase every contact of every channel of the shop (Shopify sends shop/redact 48 hours after uninstalling)."""
    erased = sum(erase_contact(rt, c.id) for c in _shop_contacts(rt, shop_id))
    log.warning("shop connection %s: shop/redact erased %d contact(s)", shop_id, erased)
    return erased


def note_data_request(rt: Runtime, shop_id: int, customer: Mapping[str, str]) -> list[int]:
    """A customer asked the shop for their data: log which contacts hold some, so the owner exports them from the
    dashboard's contacts page (the shop answers the customer, not the app)."""
    found = contacts_of(rt, shop_id, customer)
    log.warning(
        "shop connection %s: customers/data_request; contacts holding their data: %s (export them on the "
        "dashboard's Contacts page)",
        shop_id,
        found or "none",
    )
    return found
