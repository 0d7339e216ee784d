"""Jinja environments whose ``_()``, ``gettext()``, ``ngettext()`` and ``{% trans %}`` use one language's catalog.

New-style gettext: ``{{ _("Hi %(name)s!", name=name) }}``, ``{{ ngettext("%(num)d item", "%(num)d items", n) }}``
(``num`` is filled from ``n``). The filters ``money``, ``number``, ``day`` and ``datetime`` format through Babel
in the same language (:mod:`connector.i18n.formatting`).
"""

from __future__ import annotations

from typing import Any

from jinja2 import BaseLoader, Environment, StrictUndefined

from connector.i18n import catalogs, formatting


def environment(loader: BaseLoader, language: str, *, time_zone: str = "UTC", **options: Any) -> Environment:
    """A text (not HTML) environment over ``loader`` that speaks ``language``."""
    env = Environment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=False,  # chat text, not HTML
        keep_trailing_newline=False,
        extensions=["jinja2.ext.i18n"],
        **options,
    )
    env.install_gettext_translations(catalogs.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = lambda amount, currency="": formatting.money(amount, currency, language)
    env.filters["number"] = lambda value, digits=None: formatting.number(value, language, digits=digits)
    env.filters["day"] = env.filters["date"] = lambda value: formatting.day(value, language, time_zone)
    env.filters["datetime"] = lambda value: formatting.date_time(value, language, time_zone)
    env.globals["language"] = language
    return env
