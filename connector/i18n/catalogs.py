"""The compiled gettext catalogs, loaded once per language, and the ``gettext``/``ngettext`` pair to use them.

A language code is ``en``, ``de``, ``fr``, ``es``, ``it``, ``nl`` or ``pt_BR`` (:data:`LANGUAGES`). English is the
source language (its texts are the message ids), so it needs no catalog. A text missing from a catalog shows in
English, never as a key; ``tests/test_translations.py`` makes sure no shipped catalog misses one.
"""

from __future__ import annotations

import functools
import gettext as _gettext
from pathlib import Path

from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"

#: Every shipped language, by code, in its own name (the dashboard's language switch lists them in this order).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "it": "Italiano",
    "nl": "Nederlands",
    "pt_BR": "Português (Brasil)",
}


def supported(language: str | None) -> bool:
    """Whether ``language`` is one of the shipped languages."""
    return language in LANGUAGES


@functools.cache
def translations(language: str) -> _gettext.NullTranslations:
    """The catalog of ``language`` (English, or an unknown language, gets the texts as written)."""
    if language == SOURCE_LANGUAGE or language not in LANGUAGES:
        return NullTranslations()
    found = Translations.load(str(LOCALES_DIR), [language], DOMAIN)
    if not isinstance(found, Translations):  # no compiled catalog: a broken install, shown in English
        return NullTranslations()
    return found


def gettext(language: str, text: str) -> str:
    """``text`` in ``language``."""
    return translations(language).gettext(text)


def ngettext(language: str, singular: str, plural: str, count: int) -> str:
    """The form of ``singular``/``plural`` that ``count`` takes in ``language`` (its own plural rules)."""
    return translations(language).ngettext(singular, plural, count)


def N_(text: str) -> str:
    """Mark ``text`` for extraction without translating it here (it is translated where it is shown)."""
    return text
