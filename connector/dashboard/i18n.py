"""The dashboard's language: which one a request gets, and its texts from the gettext catalogs.

The language comes from the user's switch (stored in the session), else the browser's ``Accept-Language``, else
``[dashboard] default_language``. Templates call ``_("English text", name=value)`` (``{name}`` placeholders) and
``ngettext("{count} item", "{count} items", count)``; a text missing from a catalog shows in English, never as a
key. The catalogs are :mod:`connector.i18n.catalogs`'s; see docs/dashboard.md "Translations".
"""

from __future__ import annotations

from flask import request, session
from markupsafe import Markup, escape

from connector.i18n import catalogs

LANGUAGES = catalogs.LANGUAGES


def select_language(default: str) -> str:
    """The UI language for this request: the user's switch, else Accept-Language, else ``default``."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    # Accept-Language spells pt_BR "pt-BR"; plain "pt" gets Brazilian Portuguese too (the only one shipped).
    offered = {code.replace("_", "-"): code for code in LANGUAGES} | {"pt": "pt_BR"}
    best = request.accept_languages.best_match(list(offered))
    return offered[best] if best else default


def translate(text: str, language: str, **values: object) -> str:
    """``text`` in ``language``, with ``{name}`` placeholders filled from ``values``. A value marked safe
    (``"<code>x</code>"|safe``) keeps its markup; the translation and every other value are escaped then."""
    result = catalogs.gettext(language, text)
    if any(isinstance(value, Markup) for value in values.values()):
        return escape(result).format(**values)
    return result.format(**values) if values else result


def translate_plural(singular: str, plural: str, count: int, language: str, **values: object) -> str:
    """The form for ``count`` in ``language``, with ``{count}`` and the other placeholders filled."""
    return catalogs.ngettext(language, singular, plural, count).format(count=count, **values)
