"""The login throttle: failed logins counted atomically per client address and per login name, with
exponential back-off instead of a lockout.

Each attempt first *reserves* a failure on both of its keys in one locked transaction (``BEGIN IMMEDIATE``
on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), so concurrent attempts cannot all pass the check before
any of them is counted: at most ``login_max_failures`` passwords are checked before the back-off starts. A
correct password then clears both keys. After the limit, each further failure doubles the wait, capped per
key kind: long for an address that keeps failing, short for a login name, so someone guessing the owner's
password from elsewhere delays the owner's own login by at most ``login_account_max_backoff_seconds``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.db.models_dashboard import LoginThrottle

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.dashboard.settings import DashboardSettings
    from connector.runtime import Runtime

ADDRESS = "addr:"
ACCOUNT = "user:"


def keys_for(client: str, email: str) -> tuple[str, str]:
    """The throttle keys of an attempt: its client address and its (normalised) login name."""
    return ADDRESS + client[:200], ACCOUNT + email[:254]


def _locked_rows(rt: Runtime, session: Session, keys: tuple[str, ...]) -> list[LoginThrottle]:
    dialect = postgresql if rt.db.is_postgres else sqlite
    for key in keys:
        insert = dialect.insert(LoginThrottle).values(key=key, failures=0)
        session.execute(insert.on_conflict_do_nothing(index_elements=["key"]))
    query = select(LoginThrottle).where(LoginThrottle.key.in_(keys)).order_by(LoginThrottle.key)
    if rt.db.is_postgres:
        query = query.with_for_update()
    return list(session.scalars(query))


def _backoff(cfg: DashboardSettings, key: str, failures: int) -> float:
    cap = cfg.login_account_max_backoff_seconds if key.startswith(ACCOUNT) else cfg.login_max_backoff_seconds
    excess = failures - cfg.login_max_failures
    return min(float(cap), cfg.login_backoff_seconds * 2 ** min(excess, 32))


def reserve(rt: Runtime, keys: tuple[str, ...], now: datetime | None = None) -> float:
    """Count one failure on every key before the password is checked; 0.0 if the check may go ahead, else the
    seconds to wait (nothing is counted then)."""
    cfg = rt.config.dashboard
    now = now or datetime.now(UTC)
    window = timedelta(seconds=cfg.login_window_seconds)
    with rt.db.session() as session:
        rows = _locked_rows(rt, session, keys)
        wait = 0.0
        for row in rows:
            if row.last_failure_at is not None and now - row.last_failure_at > window:
                row.failures, row.blocked_until = 0, None
            if row.blocked_until is not None and row.blocked_until > now:
                wait = max(wait, (row.blocked_until - now).total_seconds())
        if wait > 0:
            return wait
        for row in rows:
            row.failures += 1
            row.last_failure_at = now
            if row.failures >= cfg.login_max_failures:
                row.blocked_until = now + timedelta(seconds=_backoff(cfg, row.key, row.failures))
        return 0.0


def clear(rt: Runtime, keys: tuple[str, ...]) -> None:
    """Forget the failures of ``keys`` (after a correct password)."""
    with rt.db.session() as session:
        session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key.in_(keys))
            .values(failures=0, last_failure_at=None, blocked_until=None)
        )


def prune(rt: Runtime, now: datetime | None = None) -> int:
    """Delete the rows that no longer hold anything back (failures forgotten, no wait pending); how many went.
    Run hourly as ``dashboard.prune_login_throttle``, so guesses at many names or addresses leave no pile."""
    now = now or datetime.now(UTC)
    forgotten = now - timedelta(seconds=rt.config.dashboard.login_window_seconds)
    with rt.db.session() as session:
        result = session.execute(
            delete(LoginThrottle).where(
                or_(LoginThrottle.last_failure_at.is_(None), LoginThrottle.last_failure_at < forgotten),
                or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
            )
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
