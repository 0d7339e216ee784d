"""The shop step's approval flows: which platforms offer one (a plugin registered its ``connect_<platform>``
routes), and whether this deployment can be reached by the platforms at all. Manual credentials stay available as
"advanced"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, session

from connector.onboarding import connect

if TYPE_CHECKING:
    from connector.runtime import Runtime


def context(rt: Runtime, app: Flask) -> dict[str, Any]:
    """Template context of the approval part of step 1."""
    flows = {
        name.removeprefix("connect_").split(".")[0]
        for name in app.view_functions
        if name.startswith("connect_") and name.endswith(".start")
    }
    flows |= {name.split(".")[0].removeprefix("connect_") for name in app.view_functions if name.endswith(".manifest")}
    return {
        "flows": flows,
        "unreachable": connect.unreachable(rt),
        "public_url": rt.config.public_url,
        "error": session.pop("wizard_connect_error", None),
    }
