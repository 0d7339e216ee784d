"""Texts the connector stored in English (why a message was skipped, why a campaign paused, why a contact is left
out of a campaign) shown in the viewer's language.

Such a text was marked for translation where it was made (``_()``/``N_()`` in Python, so the catalogs have it) but
stored as English, often with its placeholders filled (``"budget cap of 0.3 reached: ..."``), because the row
outlives any one viewer's language and the API returns it as written. :func:`translate` finds the catalog
message the text was made from, a literal one or one with placeholders (``{name}``, ``{cap:g}``, ``%(name)s``)
matched as a pattern, and returns the translation with the same values. A text no message made (a platform's
own error text, say) is shown as it is.
"""

from __future__ import annotations

import functools
import re

from connector.i18n import catalogs

#: A placeholder in a message id: ``{name}``, ``{name:g}`` (str.format) or ``%(name)s`` (%-formatting).
_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^{}]*)?\}|%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifgr]")


def _pattern(msgid: str) -> re.Pattern[str]:
    """A regex that matches ``msgid`` with any values in its placeholders (a name used twice, the same value)."""
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for found in _PLACEHOLDER.finditer(msgid):
        name = found.group(1) or found.group(2)
        parts.append(re.escape(msgid[position : found.start()]))
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        position = found.end()
    parts.append(re.escape(msgid[position:]))
    return re.compile("".join(parts), re.DOTALL)


@functools.cache
def _templates(language: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The catalog's messages with placeholders, as (pattern, translation), the most literal text first (so
    ``"campaign {id} is {status} already"`` wins over a message that is all placeholder)."""
    catalog = getattr(catalogs.translations(language), "_catalog", {})
    found = [
        (msgid, msgstr)
        for msgid, msgstr in catalog.items()
        if isinstance(msgid, str) and msgid and msgstr and _PLACEHOLDER.search(msgid)
    ]
    found.sort(key=lambda pair: -len(_PLACEHOLDER.sub("", pair[0])))
    return tuple((_pattern(msgid), msgstr) for msgid, msgstr in found)


def translate(text: str | None, language: str) -> str:
    """``text`` (stored English, placeholders filled) in ``language``; unknown text as it is."""
    if not text or language == catalogs.SOURCE_LANGUAGE:
        return text or ""
    literal = catalogs.gettext(language, text)
    if literal != text:
        return literal
    for pattern, translation in _templates(language):
        match = pattern.fullmatch(text)
        if match is not None:
            return _fill(translation, match.groupdict())
    return text


def _fill(translation: str, values: dict[str, str]) -> str:
    """``translation`` with each placeholder replaced by the value its name matched in the English text."""
    return _PLACEHOLDER.sub(lambda found: values.get(found.group(1) or found.group(2)) or found.group(0), translation)
