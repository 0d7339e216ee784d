"""Jinja helpers the dashboard's templates use to put untrusted data into markup safely.

Autoescaping (on for every ``.html`` template) covers text and quoted attribute values; what it cannot
judge is whether a URL from a shop or a chat message is a web link or a ``javascript:`` one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint

WEB_SCHEMES = frozenset({"http", "https"})


def is_web_url(value: object) -> bool:
    """Whether ``value`` is an absolute ``http(s)://`` URL with a host (safe as ``href`` or ``src``)."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


def register(bp: Blueprint) -> None:
    """Make ``is web_url`` available to every template of the app."""
    bp.add_app_template_test(is_web_url, "web_url")
