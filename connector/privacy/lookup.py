"""Finding what is held about one contact beyond the rows that name their id: the identifiers they go by, and the
stored webhook payloads (encrypted) that name them, through the payloads' blind index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from connector.db.models import Contact, WebhookEvent
from connector.db.models_conversation import ChatOrder, ConversationState
from connector.privacy.identifiers import emails_in, person_terms
from connector.secrets import SecretBox

#: Blind-index hashes per query (an OR of LIKEs): a person has a handful of identifiers, times a few keys.
_HASHES_PER_QUERY = 20


@dataclass
class Person:
    """What one contact is known by: phone numbers / user ids, e-mail addresses, and every personal string given
    in chat (name, address lines), for scrubbing free-text copies."""

    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    strings: set[str] = field(default_factory=set)

    def terms(self) -> set[str]:
        return person_terms(self.phones, self.emails)


def _strings(value: Any) -> set[str]:
    """The strings worth scrubbing in an address-like value (a postcode or country code alone is not)."""
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value.strip()} if isinstance(value, str) and len(value.strip()) >= 4 else set()


def identify(session: Session, contact: Contact) -> Person:
    """The identifiers of ``contact``, from their contact row, conversation state and chat orders."""
    person = Person()
    person.phones.update(p for p in (contact.channel_user_id, contact.phone) if p)
    if contact.phone:
        person.strings.add(contact.phone)
    person.strings.add(contact.channel_user_id)
    if len(contact.name.strip()) >= 3:
        person.strings.add(contact.name.strip())
    state = session.scalar(select(ConversationState).where(ConversationState.contact_id == contact.id))
    given: list[Any] = []
    if state is not None:
        given += [state.address, state.data]
    given += [order.cart for order in session.scalars(select(ChatOrder).where(ChatOrder.contact_id == contact.id))]
    for value in given:
        person.emails.update(emails_in(value))
        if isinstance(value, dict):
            address = value.get("address") if "line1" not in value else value
            person.strings.update(_strings(address))
            if isinstance(address, dict) and address.get("phone"):
                person.phones.add(str(address["phone"]))
    person.strings.update(person.emails)
    return person


def webhook_events_about(session: Session, box: SecretBox, person: Person) -> list[WebhookEvent]:
    """The stored webhook deliveries whose payload names the person (by phone number, user id or e-mail)."""
    hashes = sorted({h for term in person.terms() for h in box.blind_indexes(term)})
    found: dict[int, WebhookEvent] = {}
    for start in range(0, len(hashes), _HASHES_PER_QUERY):
        chunk = hashes[start : start + _HASHES_PER_QUERY]
        query = select(WebhookEvent).where(or_(*(WebhookEvent.subjects.like(f"% {h} %") for h in chunk)))
        found.update((event.id, event) for event in session.scalars(query))
    return [found[event_id] for event_id in sorted(found)]


def scrub(value: Any, strings: set[str], replacement: str = "[erased]") -> Any:
    """``value`` (text or a JSON-like structure) with every occurrence of ``strings`` replaced, longest first."""
    if isinstance(value, str):
        for needle in sorted(strings, key=len, reverse=True):
            value = value.replace(needle, replacement)
        return value
    if isinstance(value, dict):
        return {key: scrub(item, strings, replacement) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, strings, replacement) for item in value]
    return value
