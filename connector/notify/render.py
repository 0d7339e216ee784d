"""Message texts: Jinja templates per notification kind, channel and language, with Babel formatting.

A text lives in ``<kind>/<channel>.<language>.j2`` (falling back to ``<kind>/default.<language>.j2``, then to
the default language). Folders are searched in this order: the owner's ``[notify] template_dir``, folders from
plugins (``connector_template_dirs``), then the built-in ``connector/notify/templates/``. A template defines the
blocks ``body`` and, where the message has a button, ``button``. Filters: ``money`` (amount, currency ->
``49,90 €`` in German), ``date``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

if TYPE_CHECKING:
    from connector.adapters import ChannelAdapter
    from connector.runtime import Runtime

BUILTIN = Path(__file__).parent / "templates"
_LOCALES = {"de": "de_DE", "en": "en_US"}


def locale_for(language: str) -> str:
    return _LOCALES.get(language, language)


def _environment(dirs: list[str], language: str) -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    locale = locale_for(language)

    def money(amount: Any, currency: str = "EUR") -> str:
        return format_currency(Decimal(str(amount)), currency, locale=locale)

    env.filters["money"] = money
    env.filters["date"] = lambda value: format_date(value, locale=locale)
    return env


class Renderer:
    """Renders notification texts for one runtime (folders are read once; templates are cached by Jinja).

    It also knows the runtime's channel adapter classes by name (``channels``): what shape a notification takes
    on a channel (a template, a tagged message, nothing) is the channel's to say
    (``ChannelAdapter.notification_message``)."""

    def __init__(
        self,
        dirs: list[str],
        default_language: str = "en",
        channels: Mapping[str, type[ChannelAdapter]] | None = None,
    ):
        self.dirs = dirs
        self.default_language = default_language
        self.channels: Mapping[str, type[ChannelAdapter]] = dict(channels or {})
        self._envs: dict[str, Environment] = {}

    @classmethod
    def for_runtime(cls, rt: Runtime) -> Renderer:
        settings = rt.config.notify
        dirs = [settings.template_dir] if settings.template_dir else []
        dirs += list(rt.plugins.template_dirs())
        dirs.append(str(BUILTIN))
        return cls([d for d in dirs if d and os.path.isdir(d)], settings.default_language, rt.plugins.channel_adapters)

    def _env(self, language: str) -> Environment:
        env = self._envs.get(language)
        if env is None:
            env = self._envs[language] = _environment(self.dirs, language)
        return env

    def render(self, kind: str, channel: str, language: str, variables: dict[str, Any]) -> dict[str, str]:
        """The rendered blocks (``body``, ``button`` when defined) of the best template for this message."""
        for lang in dict.fromkeys([language, self.default_language, "en"]):
            env = self._env(lang)
            for name in (f"{kind}/{channel}.{lang}.j2", f"{kind}/default.{lang}.j2"):
                try:
                    template = env.get_template(name)
                except TemplateNotFound:
                    continue
                context = template.new_context(dict(variables))
                return {block: "".join(render(context)).strip() for block, render in template.blocks.items()}
        raise TemplateNotFound(f"{kind}/{channel}.{language}.j2")
