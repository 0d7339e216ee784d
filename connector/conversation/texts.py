"""Every text the bot says: one Jinja block per key, translated by the gettext catalogs; owners and plugins
can still replace any text per language.

The built-in texts are the blocks of ``connector/conversation/templates/chat/texts.j2`` (English message ids,
translated by :mod:`connector.i18n`). For a text ``key`` in ``language`` on ``channel``, the first of these wins:

1. a file ``chat/<key>/<channel>.<language>.j2`` or ``chat/<key>/default.<language>.j2`` in a folder of a plugin
   (``connector_template_dirs``) or of the owner (``[chat] template_dirs``), in that order;
2. the built-in block ``key``, in ``language`` when it is a shipped language, else in English;
3. the English file ``chat/<key>/<channel>.en.j2`` / ``chat/<key>/default.en.j2`` (a plugin's own keys).

So a file ``chat/menu_body/default.de.j2`` in an owner's folder replaces the German menu greeting only, and
``chat/menu_body/whatsapp.de.j2`` replaces it on WhatsApp only; every other language keeps its translation.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, Template, TemplateNotFound

from connector.i18n import catalogs
from connector.i18n import jinja as i18n_jinja

if TYPE_CHECKING:
    from connector.runtime import Runtime

BUILTIN_DIR = Path(__file__).parent / "templates"
BUILTIN_TEXTS = "chat/texts.j2"
LANGUAGES = tuple(catalogs.LANGUAGES)
FALLBACK_LANGUAGE = catalogs.SOURCE_LANGUAGE

_environments: dict[tuple[int, str], tuple[tuple[str, ...], Environment]] = {}
_lock = threading.Lock()


def search_path(rt: Runtime) -> list[str]:
    """Template folders, highest priority first: plugins, the owner's config, the built-in texts."""
    return [*rt.plugins.template_dirs(), *rt.config.chat.template_dirs, str(BUILTIN_DIR)]


def environment(rt: Runtime, language: str = FALLBACK_LANGUAGE) -> Environment:
    """The Jinja environment for ``rt`` speaking ``language`` (rebuilt when the search path changes)."""
    dirs = tuple(search_path(rt))
    with _lock:
        cached = _environments.get((id(rt), language))
        if cached is not None and cached[0] == dirs:
            return cached[1]
        env = i18n_jinja.environment(
            ChoiceLoader([FileSystemLoader(d) for d in dirs]), language, time_zone=rt.config.chat.time_zone
        )
        _environments[(id(rt), language)] = (dirs, env)
        return env


def _override(env: Environment, key: str, language: str, channel: str) -> Template | None:
    try:
        return env.select_template([f"chat/{key}/{channel}.{language}.j2", f"chat/{key}/default.{language}.j2"])
    except TemplateNotFound:
        return None


def render(rt: Runtime, key: str, language: str, channel: str = "default", **values: Any) -> str:
    """The text ``key`` in ``language`` for ``channel``, filled with ``values``.

    Raises :class:`jinja2.TemplateNotFound` when no folder has the key in any language: a missing text is a bug.
    """
    if not catalogs.supported(language):
        language = FALLBACK_LANGUAGE
    env = environment(rt, language)
    template = _override(env, key, language, channel)
    if template is not None:
        return template.render(**values).strip()
    builtin = env.get_template(BUILTIN_TEXTS)
    block = builtin.blocks.get(key)
    if block is not None:
        return "".join(block(builtin.new_context(dict(values)))).strip()
    english = _override(environment(rt, FALLBACK_LANGUAGE), key, FALLBACK_LANGUAGE, channel)
    if english is None:
        raise TemplateNotFound(f"chat/{key}/default.{FALLBACK_LANGUAGE}.j2")
    return english.render(**values).strip()


def exists(rt: Runtime, key: str) -> bool:
    """Whether a text ``key`` exists (built in, or a plugin's own in English)."""
    env = environment(rt)
    if key in env.get_template(BUILTIN_TEXTS).blocks:
        return True
    return _override(env, key, FALLBACK_LANGUAGE, "default") is not None
