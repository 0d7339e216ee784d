"""``_()`` marks the texts of campaigns and attribution for translation (the gettext catalogs take them over; until
then the English text, with ``{name}`` placeholders filled)."""

from __future__ import annotations


def _(text: str, **values: object) -> str:
    """``text`` with its placeholders filled (the translation hook)."""
    return text.format(**values) if values else text
