"""Graph API versions: Meta's calendar, and whether a connection's version is still served.

From Meta's Graph API changelog (2026-10-29) and the v27.0 announcement (2026-11-04); see
``docs/channels/messenger-instagram.md``. Each version is served two years after the next one's release; once
expired, calls to it are refused: ``(#2635) You are calling a deprecated version of the Ads API. Please update to
the latest version: vNN.0.`` (the Marketing API's answer, CONFIRMED; plain Graph calls are REPORTED to fall forward
to the oldest version instead, so the connector never relies on that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from connector_meta.graph import DEFAULT_API_VERSION, GraphErrorInfo, graph_error

from connector.adapters import ConfigField
from connector.errors import PlatformError, SettingsError

#: Released versions and the day they stop being served (``None``: not announced yet).
CALENDAR: dict[str, date | None] = {
    "v27.0": None,
    "v26.0": None,
    "v25.0": date(2028, 7, 29),
    "v24.0": date(2028, 2, 18),
    "v23.0": date(2027, 10, 8),
    "v22.0": date(2027, 5, 20),
    "v21.0": date(2027, 1, 21),
    "v20.0": date(2026, 9, 24),
}
NEWEST = "v27.0"
#: Versions before this one expired before the calendar starts.
OLDEST_LISTED = 20
#: The error code of a call to an expired version.
EXPIRED_CODE = 2635
VERSION = re.compile(r"^v(\d{1,2})\.0$")


def version_number(version: str) -> int | None:
    """``25`` for ``v25.0``; ``None`` when it is no Graph API version."""
    match = VERSION.match(version)
    return int(match.group(1)) if match else None


def expiry(version: str) -> date | None:
    """The day ``version`` stops (or stopped) being served; ``None`` when not announced or unknown."""
    number = version_number(version)
    if number is not None and number < OLDEST_LISTED:
        return date.min  # older than the calendar: long gone
    return CALENDAR.get(version)


def version_problem(version: str, today: date) -> str | None:
    """Why ``version`` cannot be used on ``today`` (malformed, unreleased, expired), or ``None`` when served."""
    number = version_number(version)
    if number is None:
        return f"Graph API version must look like {DEFAULT_API_VERSION}, got {version!r}"
    if number > (version_number(NEWEST) or 0):
        return f"Graph API {version} is not released; the newest version is {NEWEST}"
    until = expiry(version)
    if until is not None and until <= today:
        when = "long ago" if until == date.min else f"on {until.isoformat()}"
        return (
            f"Graph API {version} expired {when} and Meta no longer serves it; set the connection's Graph API "
            f"version to {DEFAULT_API_VERSION} (served until {_until(DEFAULT_API_VERSION)}) or newer"
        )
    return None


def _until(version: str) -> str:
    until = CALENDAR.get(version)
    return until.isoformat() if until else "a date not announced yet"


def is_expired_answer(error: GraphErrorInfo) -> bool:
    """True when Meta refused a call because its version expired (code 2635)."""
    return error.code == EXPIRED_CODE


#: The connection setting (WhatsApp, Messenger, Instagram): which Graph API version the connection calls.
API_VERSION_FIELD = ConfigField(
    "api_version",
    "Graph API version",
    required=False,
    default=DEFAULT_API_VERSION,
    help=f"Such as {DEFAULT_API_VERSION} (served until {_until(DEFAULT_API_VERSION)}); expired versions are refused.",
)


def today() -> date:
    return datetime.now(UTC).date()


def check_settings(cleaned: Mapping[str, Any]) -> None:
    """Raise :class:`SettingsError` when the settings name a Graph API version Meta does not serve today."""
    problem = version_problem(str(cleaned.get("api_version") or DEFAULT_API_VERSION), today())
    if problem:
        raise SettingsError({"api_version": problem})


def connection_problem(label: str, version: str, exc: PlatformError | None = None) -> str | None:
    """What a connection test says about the version: before calling (the calendar) or after Meta refused it
    (code 2635); ``None`` when the version is not the problem."""
    if exc is None:
        problem = version_problem(version, today())
        return f"{label}: {problem}" if problem else None
    info = graph_error(exc)
    if info is None or not is_expired_answer(info):
        return None
    return (
        f"{label}: Meta refused Graph API {version} as expired ({info.summary}); set the connection's Graph API "
        f"version to {DEFAULT_API_VERSION} or newer"
    )
