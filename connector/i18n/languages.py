"""Which shipped language a customer speaks: from their locale, else (cheaply) from the words of a message.

:func:`from_locale` reads a WhatsApp/Messenger locale (``de_DE``, ``pt-BR``, ``fr``). :func:`guess` looks at the
words of a short message and answers only when one language clearly wins: it counts greetings and very common
words (articles, pronouns, "please", "thanks") of each shipped language and needs at least one hit and no tie.
No model, no network; "Bonjour, je cherche une veste" is French, "ok" or "hi" alone is nobody's. A wrong guess is cheap: the customer's next greeting in another language switches the conversation.
"""

from __future__ import annotations

import re

from connector.i18n.catalogs import LANGUAGES

#: Locale languages that map to a shipped variant ("pt_PT" customers read Brazilian Portuguese rather than English).
_VARIANTS = {"pt": "pt_BR"}

#: Greetings: a whole message that is one of these switches the conversation's language at any time.
GREETINGS: dict[str, frozenset[str]] = {
    "en": frozenset({"hello", "good morning", "good evening", "good afternoon", "menu", "start over"}),
    # "Hallo" is Dutch too; alone it reads as German, as it did before the other languages shipped.
    "de": frozenset(
        {"hallo", "guten tag", "moin", "servus", "grüß gott", "gruss gott", "hallöchen", "menü", "guten morgen"}
    ),
    "fr": frozenset({"bonjour", "bonsoir", "salut", "coucou"}),
    "es": frozenset({"hola", "buenos días", "buenos dias", "buenas tardes", "buenas noches", "buenas", "menú"}),
    "it": frozenset({"ciao", "buongiorno", "buonasera", "salve"}),
    "nl": frozenset({"hoi", "goedemorgen", "goedemiddag", "goedenavond", "dag"}),
    "pt_BR": frozenset({"olá", "ola", "oi", "bom dia", "boa tarde", "boa noite"}),
}

#: Very common words that, unlike "hallo" or "menu", belong to one shipped language only.
_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "and",
            "is",
            "are",
            "you",
            "my",
            "your",
            "i",
            "want",
            "please",
            "thanks",
            "thank",
            "where",
            "what",
            "have",
            "looking",
            "for",
        ]
    ),
    "de": frozenset(
        [
            "ich",
            "und",
            "ist",
            "sind",
            "sie",
            "mein",
            "meine",
            "bitte",
            "danke",
            "wo",
            "was",
            "habe",
            "suche",
            "nach",
            "eine",
            "einen",
            "nicht",
        ]
    ),
    "fr": frozenset(
        [
            "je",
            "et",
            "est",
            "vous",
            "mon",
            "ma",
            "mes",
            "merci",
            "où",
            "quoi",
            "cherche",
            "une",
            "un",
            "pour",
            "avec",
            "le",
            "la",
            "les",
            "s'il",
        ]
    ),
    "es": frozenset(
        [
            "yo",
            "y",
            "es",
            "usted",
            "mi",
            "mis",
            "gracias",
            "dónde",
            "donde",
            "qué",
            "quiero",
            "busco",
            "una",
            "por",
            "favor",
            "el",
            "los",
            "las",
        ]
    ),
    "it": frozenset(
        [
            "io",
            "e",
            "è",
            "sono",
            "mio",
            "mia",
            "grazie",
            "dove",
            "cosa",
            "voglio",
            "cerco",
            "una",
            "per",
            "il",
            "gli",
            "le",
            "vorrei",
        ]
    ),
    "nl": frozenset(
        [
            "ik",
            "en",
            "is",
            "zijn",
            "mijn",
            "bedankt",
            "waar",
            "wat",
            "wil",
            "zoek",
            "een",
            "voor",
            "het",
            "de",
            "graag",
            "niet",
            "jullie",
        ]
    ),
    "pt_BR": frozenset(
        [
            "eu",
            "e",
            "é",
            "você",
            "meu",
            "minha",
            "obrigado",
            "obrigada",
            "onde",
            "quero",
            "procuro",
            "uma",
            "para",
            "o",
            "os",
            "as",
            "não",
        ]
    ),
}
_WORD = re.compile(r"[\w'\u2019]+", re.UNICODE)


def _normal(text: str) -> str:
    return " ".join(text.strip().casefold().strip("!?.,¡¿").split())


def from_locale(locale: str | None) -> str | None:
    """The shipped language of ``locale`` (``de_DE`` -> ``de``, ``pt-BR`` -> ``pt_BR``); None for any other."""
    if not locale:
        return None
    parts = re.split(r"[-_]", locale.strip())
    first = parts[0].lower()
    if len(parts) > 1 and f"{first}_{parts[1].upper()}" in LANGUAGES:
        return f"{first}_{parts[1].upper()}"
    found = _VARIANTS.get(first, first)
    return found if found in LANGUAGES else None


def greeting(text: str) -> str | None:
    """The language of a message that is nothing but a greeting (``Bonjour!`` -> ``fr``)."""
    said = _normal(text)
    for language, words in GREETINGS.items():
        if said in words:
            return language
    return None


def guess(text: str) -> str | None:
    """The language a message is most likely written in, or None when it is too short or unclear to say."""
    found = greeting(text)
    if found:
        return found
    words = _WORD.findall(text.casefold())[:40]
    scores = {language: sum(word in vocabulary for word in words) for language, vocabulary in _WORDS.items()}
    for language, vocabulary in GREETINGS.items():
        scores[language] += sum(word in vocabulary for word in words)
    best = max(scores.values())
    winners = [language for language, score in scores.items() if score == best]
    return winners[0] if best >= 2 and len(winners) == 1 else None
