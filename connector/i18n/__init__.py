"""Languages, the ecosystem's way: Babel gettext catalogs and Babel formatting for every text the connector shows.

One catalog (domain ``messages``) per language in ``connector/locales/<lang>/LC_MESSAGES/`` covers the dashboard,
the chat texts and the notification texts. ``scripts/translations update`` extracts the strings (``babel.cfg``),
updates every ``.po`` and compiles the ``.mo`` files that ship in the wheel. English is the source language.
"""
