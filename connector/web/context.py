"""Access to the process's :class:`~connector.runtime.Runtime` from request code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from connector.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["connector"]
