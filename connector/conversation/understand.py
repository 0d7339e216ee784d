"""What a customer's own words ask for, so the answer comes at once instead of after the menu.

Every billed message counts (WhatsApp bills service replies since 2026-10-01): a customer who writes "where is my
order?" gets the order, not "Sorry, I didn't understand" plus the menu plus the order. Phrases are German and
English, matched on whole words of the normalised text; anything not recognised falls through to the engine's
search and the menu as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORDS = re.compile(r"[\wäöüß]+", re.IGNORECASE)

_ADDRESS = frozenset({"address", "adresse", "lieferadresse", "anschrift"})
_CHANGE = frozenset({"change", "update", "correct", "wrong", "new", "ändern", "aendern", "ändere", "falsch", "neue"})
_ORDER = frozenset(
    {"order", "orders", "parcel", "package", "delivery", "bestellung", "bestellungen", "paket", "lieferung"}
)
_WHERE = frozenset({"where", "status", "when", "track", "tracking", "wo", "wann", "stand", "sendungsverfolgung"})
_PERSON = frozenset(
    {"person", "human", "agent", "someone", "somebody", "staff", "mensch", "mitarbeiter", "mitarbeiterin", "jemand"}
)
_TALK = frozenset({"talk", "speak", "chat", "call", "sprechen", "reden", "real", "echten", "echte", "echter"})
#: "tell me when <product> is back (in stock)", "Bescheid, wenn <Produkt> wieder da ist"
_BACK = (
    re.compile(
        r"^(?:please\s+)?(?:tell|notify|let|message|ping)\s+me\s+(?:know\s+)?when\s+(?:the\s+)?(?P<q>.+?)\s+is\s+"
        r"(?:back|available|in stock)(?:\s+in\s+stock)?(?:\s+again)?[.!?]*$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:bitte\s+)?(?:gebt|geben sie|sagt|sag)?\s*(?:mir\s+)?bescheid,?\s+wenn\s+(?:der|die|das\s+)?\s*"
        r"(?P<q>.+?)\s+wieder\s+(?:da|verfügbar|lieferbar|auf lager)\s*(?:ist)?[.!?]*$",
        re.IGNORECASE,
    ),
)
#: "do you have <product>?", "I'm looking for <product>", "habt ihr <Produkt>?"
_QUERY = re.compile(
    r"^(?:hi|hello|hallo|hey)?[,!\s]*(?:do you (?:have|sell)|have you got|i(?:'m| am) looking for|i(?:'d| would) like"
    r"(?: to buy)?|i want(?: to buy)?|habt ihr|haben sie|gibt es|ich suche|ich möchte|ich hätte gern)\s+"
    r"(?:(?:a|an|the|some|any|ein|eine|einen|den|die|das)\s+)?(?P<q>.+?)[.!?]*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Understood:
    """What the text asks for: an ``intent`` (``address``, ``orders``, ``agent``, ``back_in_stock``, ``search``)
    and, for the last two, the product words (``query``)."""

    intent: str
    query: str = ""


def understand(text: str) -> Understood | None:
    """The intent of ``text``, or ``None`` when it is not one of the phrases known here."""
    cleaned = " ".join(text.split())
    if not cleaned or len(cleaned) > 300:
        return None
    for pattern in _BACK:
        found = pattern.match(cleaned)
        if found:
            return Understood("back_in_stock", found.group("q").strip())
    words = {w.casefold() for w in _WORDS.findall(cleaned)}
    if len(words) > 16:
        return None
    if words & _ADDRESS and (words & _CHANGE or words & _ORDER):
        return Understood("address")
    if words & _PERSON and (words & _TALK or len(words) <= 4):
        return Understood("agent")
    if words & _ORDER and words & _WHERE and not words & _ADDRESS:
        return Understood("orders")
    found = _QUERY.match(cleaned)
    if found and len(found.group("q")) >= 3:
        return Understood("search", found.group("q").strip())
    return None
