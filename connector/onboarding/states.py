"""One-time ``state`` values of approval flows: issued when a flow starts, consumed once when the platform returns.

A state is 32 random bytes (hex, as Shopify's own SDK makes them). Consuming it is one conditional UPDATE, so of two
requests replaying the same state only one succeeds, across processes too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from connector.db.models import InstallState

if TYPE_CHECKING:
    from connector.runtime import Runtime


class StateRefused(ValueError):
    """The state is unknown, already used, expired or belongs to another platform."""


@dataclass(frozen=True, slots=True)
class Started:
    """A consumed state: what the flow was started for."""

    platform: str
    subject: str
    data: dict[str, Any]


def issue(rt: Runtime, platform: str, subject: str, data: dict[str, Any] | None = None) -> str:
    """A fresh state for ``platform``'s flow about ``subject`` (shop domain, store URL), valid for
    ``[onboarding] state_ttl_seconds``."""
    now = datetime.now(UTC)
    value = secrets.token_hex(32)
    with rt.db.session() as session:
        session.execute(delete(InstallState).where(InstallState.expires_at < now - timedelta(days=1)))
        session.add(
            InstallState(
                state=value,
                platform=platform,
                subject=subject,
                data=data or {},
                created_at=now,
                expires_at=now + timedelta(seconds=rt.config.onboarding.state_ttl_seconds),
            )
        )
    return value


def peek(rt: Runtime, platform: str, value: str) -> Started:
    """The flow ``value`` started, without using it up. Raises :class:`StateRefused`."""
    with rt.db.session() as session:
        row = session.scalars(select(InstallState).where(InstallState.state == value)).first()
        if row is None or row.platform != platform:
            raise StateRefused("unknown state: start the connection again from the setup wizard")
        if row.used_at is not None:
            raise StateRefused("this approval was already used; start the connection again from the setup wizard")
        if row.expires_at < datetime.now(UTC):
            raise StateRefused("the approval took too long; start the connection again from the setup wizard")
        return Started(row.platform, row.subject, dict(row.data or {}))


def consume(rt: Runtime, platform: str, value: str) -> Started:
    """Use ``value`` up and return what its flow was started for. Raises :class:`StateRefused` for an unknown, used,
    expired or foreign state (a replay)."""
    started = peek(rt, platform, value)
    now = datetime.now(UTC)
    with rt.db.session() as session:
        taken = session.execute(
            update(InstallState)
            .where(InstallState.state == value, InstallState.used_at.is_(None), InstallState.expires_at >= now)
            .values(used_at=now)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise StateRefused("this approval was already used; start the connection again from the setup wizard")
    return started


def update_data(rt: Runtime, platform: str, value: str, data: dict[str, Any]) -> None:
    """Replace the flow data of an unused state (a flow with more than two legs keeps what it learnt)."""
    with rt.db.session() as session:
        session.execute(
            update(InstallState)
            .where(InstallState.state == value, InstallState.platform == platform, InstallState.used_at.is_(None))
            .values(data=data)
        )


def record(rt: Runtime, platform: str, value: str, data: dict[str, Any]) -> None:
    """Add to a state's flow data, used or not: how the server-to-server leg ended, for the browser leg to show."""
    with rt.db.session() as session:
        row = session.scalars(
            select(InstallState).where(InstallState.state == value, InstallState.platform == platform)
        ).first()
        if row is not None:
            row.data = {**(row.data or {}), **data}


def find(rt: Runtime, platform: str, value: str) -> Started | None:
    """What ``value``'s flow was started for and has recorded, used or not; ``None`` for an unknown state."""
    with rt.db.session() as session:
        row = session.scalars(
            select(InstallState).where(InstallState.state == value, InstallState.platform == platform)
        ).first()
        return None if row is None else Started(row.platform, row.subject, dict(row.data or {}))
