"""Message texts: Jinja templates per notification kind, translated by the gettext catalogs, with Babel formatting.

The built-in text of a kind is ``<kind>/default.j2`` (English message ids, translated by :mod:`connector.i18n`).
An owner or a plugin replaces it for one language with ``<kind>/<channel>.<language>.j2`` or
``<kind>/default.<language>.j2``. Folders are searched in this order: the owner's ``[notify] template_dir``,
folders from plugins (``connector_template_dirs``), then the built-in ``connector/notify/templates/``. For each
language in turn (the contact's, ``[notify] default_language``, English) a per-language file wins, then the
translated ``<kind>/<channel>.j2`` / ``<kind>/default.j2`` when the language is shipped. A template defines the
blocks ``body`` and, where the message has a button, ``button``. Filters: ``money`` (amount, currency ->
``49,90 €`` in German), ``number``, ``date``/``day``, ``datetime``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, Template, TemplateNotFound

from connector.i18n import catalogs, formatting
from connector.i18n import jinja as i18n_jinja

if TYPE_CHECKING:
    from connector.adapters import ChannelAdapter
    from connector.runtime import Runtime

BUILTIN = Path(__file__).parent / "templates"


def locale_for(language: str) -> str:
    """The Babel locale name of ``language`` (``de`` -> ``de``, ``pt_BR`` -> ``pt_BR``)."""
    return str(formatting.locale(language))


def _environment(dirs: list[str], language: str) -> Environment:
    return i18n_jinja.environment(
        ChoiceLoader([FileSystemLoader(d) for d in dirs]), language, trim_blocks=True, lstrip_blocks=True
    )


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
        for lang in dict.fromkeys([language, self.default_language, catalogs.SOURCE_LANGUAGE]):
            template = self._find(kind, channel, lang)
            if template is not None:
                context = template.new_context(dict(variables))
                return {block: "".join(render(context)).strip() for block, render in template.blocks.items()}
        raise TemplateNotFound(f"{kind}/{channel}.{language}.j2")

    def _find(self, kind: str, channel: str, language: str) -> Template | None:
        """The owner's or a plugin's text in ``language``, else the translated one if ``language`` is shipped."""
        names = [f"{kind}/{channel}.{language}.j2", f"{kind}/default.{language}.j2"]
        if catalogs.supported(language):
            names += [f"{kind}/{channel}.j2", f"{kind}/default.j2"]
        try:
            return self._env(language).select_template(names)
        except TemplateNotFound:
            return None
