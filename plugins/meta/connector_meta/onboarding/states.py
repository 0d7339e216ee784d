"""The ``state`` handed to Meta's window: random, bound to the dashboard user, valid for minutes, used once."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from connector.db.models_meta_onboarding import MetaSignupState

if TYPE_CHECKING:
    from connector.runtime import Runtime

#: How long the owner may take in Meta's window (login, portfolio, number, OTP).
STATE_TTL = timedelta(minutes=15)
#: How long the callback waits for the window's message event relayed by the page (see :func:`wait_for_event`).
EVENT_GRACE = 3.0


class StateRefused(Exception):
    """The ``state`` coming back is unknown, used, stale or someone else's; the message says which."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A state that was just used: what the click asked for."""

    kind: str
    shop_connection_id: int
    coexistence: bool
    sandbox: bool
    session_info: dict[str, Any]


def create(rt: Runtime, *, kind: str, user_id: int, shop_connection_id: int, coexistence: bool, sandbox: bool) -> str:
    """A new ``state`` for one trip through Meta's window."""
    state = secrets.token_urlsafe(32)
    with rt.db.session() as session:
        # Forget states nobody can use any more (used or expired a day ago): the table stays small.
        session.execute(
            delete(MetaSignupState).where(MetaSignupState.created_at < datetime.now(UTC) - timedelta(days=1))
        )
        session.add(
            MetaSignupState(
                state=state,
                kind=kind,
                user_id=user_id,
                shop_connection_id=shop_connection_id,
                coexistence=coexistence,
                sandbox=sandbox,
            )
        )
    return state


def remember_event(rt: Runtime, user_id: int, event: dict[str, Any]) -> bool:
    """Keep the window's ``WA_EMBEDDED_SIGNUP`` event with the user's newest state of the last minutes (the page
    that relays it never sees the state: it travels with the window); ``False`` when there is none. An event that
    comes after the callback used the state is still kept with it, for the record."""
    since = datetime.now(UTC) - STATE_TTL
    with rt.db.session() as session:
        row = session.scalars(
            select(MetaSignupState)
            .where(
                MetaSignupState.user_id == user_id,
                MetaSignupState.created_at >= since,
            )
            .order_by(MetaSignupState.created_at.desc())
            .limit(1)
        ).first()
        if row is None:
            return False
        row.session_info = event
    return True


def wait_for_event(rt: Runtime, state: str, grace: float = EVENT_GRACE) -> None:
    """Give the window's message event up to ``grace`` seconds to arrive before the callback uses ``state`` up.

    Meta's window posts the event to our page and then redirects to our callback; the page relays the event in a
    request of its own, which a busy server may take after the callback's. Returns as soon as the event is kept,
    the state is used or unknown, or it is not a WhatsApp signup (only those carry the event)."""
    deadline = time.monotonic() + grace
    while True:
        with rt.db.session() as session:
            row = session.get(MetaSignupState, state) if state else None
            if row is None or row.kind != "whatsapp" or row.session_info or row.used_at is not None:
                return
        if time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def consume(rt: Runtime, state: str, user_id: int) -> Pending:
    """Use ``state`` up (atomically: two callbacks with one state cannot both pass) or raise :class:`StateRefused`."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        row = session.get(MetaSignupState, state) if state else None
        if row is None:
            raise StateRefused("this link is not one we started; start again from the setup page")
        if row.user_id != user_id:
            raise StateRefused("this approval was started by another dashboard user; start again yourself")
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        if now - created > STATE_TTL:
            raise StateRefused("this approval took longer than 15 minutes; start again")
        used = session.execute(
            update(MetaSignupState)
            .where(MetaSignupState.state == state, MetaSignupState.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise StateRefused("this approval was already used (a reloaded or replayed page); start again")
        return Pending(
            kind=row.kind,
            shop_connection_id=row.shop_connection_id,
            coexistence=row.coexistence,
            sandbox=row.sandbox,
            session_info=dict(row.session_info or {}),
        )
