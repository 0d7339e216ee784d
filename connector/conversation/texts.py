"""Every text the bot says: Jinja templates in German and English that owners and plugins can override.

A text ``key`` lives at ``chat/<key>/<channel>.<language>.j2`` with fallbacks to
``chat/<key>/default.<language>.j2`` and then to English. Folders are searched in this order:
plugins' folders (``connector_template_dirs``), the owner's ``[chat] template_dirs``, the built-in
``connector/conversation/templates``. So a file ``chat/menu_body/default.de.j2`` in an owner's folder
replaces the German menu greeting, and ``chat/menu_body/whatsapp.de.j2`` replaces it on WhatsApp only.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

if TYPE_CHECKING:
    from connector.runtime import Runtime

BUILTIN_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("en", "de")
FALLBACK_LANGUAGE = "en"

_environments: dict[int, tuple[tuple[str, ...], Environment]] = {}
_lock = threading.Lock()


def search_path(rt: Runtime) -> list[str]:
    """Template folders, highest priority first: plugins, the owner's config, the built-in texts."""
    return [*rt.plugins.template_dirs(), *rt.config.chat.template_dirs, str(BUILTIN_DIR)]


def environment(rt: Runtime) -> Environment:
    """The Jinja environment for ``rt`` (rebuilt when plugins or the config change the search path)."""
    dirs = tuple(search_path(rt))
    with _lock:
        cached = _environments.get(id(rt))
        if cached is not None and cached[0] == dirs:
            return cached[1]
        env = Environment(
            loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
            undefined=StrictUndefined,
            autoescape=False,  # chat text, not HTML
            keep_trailing_newline=False,
        )
        _environments[id(rt)] = (dirs, env)
        return env


def render(rt: Runtime, key: str, language: str, channel: str = "default", **values: Any) -> str:
    """The text ``key`` in ``language`` for ``channel``, filled with ``values``.

    Raises :class:`jinja2.TemplateNotFound` when no folder has the key in any language: a missing text is a bug.
    """
    env = environment(rt)
    candidates = [f"chat/{key}/{channel}.{language}.j2", f"chat/{key}/default.{language}.j2"]
    if language != FALLBACK_LANGUAGE:
        candidates += [f"chat/{key}/{channel}.{FALLBACK_LANGUAGE}.j2", f"chat/{key}/default.{FALLBACK_LANGUAGE}.j2"]
    template = env.select_template(candidates)
    return template.render(**values).strip()


def exists(rt: Runtime, key: str) -> bool:
    """Whether any folder has a text ``key`` (plugins may ship their own keys)."""
    try:
        environment(rt).get_template(f"chat/{key}/default.{FALLBACK_LANGUAGE}.j2")
    except TemplateNotFound:
        return False
    return True
