"""Chatshop Connector: join a shop to the chats its customers already use.

Plugins import the hook marker from here::

    from connector import hookimpl
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Mark a plugin function as the implementation of a hook in :mod:`connector.hookspecs`.
hookimpl = pluggy.HookimplMarker("connector")

__all__ = ["__version__", "hookimpl"]
