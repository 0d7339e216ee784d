"""Dashboard users: creating them, checking passwords (argon2id), and the login rate limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from connector.db.models_dashboard import DashboardUser, LoginAttempt
from connector.errors import SettingsError

if TYPE_CHECKING:
    from connector.runtime import Runtime

_hasher = PasswordHasher()
#: Verified against when the login name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The outcome of a login attempt: the user on success, else why not (and how long to wait when limited)."""

    user_id: int | None = None
    language: str = ""
    limited_seconds: int = 0

    @property
    def ok(self) -> bool:
        return self.user_id is not None


def _normalise(email: str) -> str:
    return email.strip().lower()


def count_users(rt: Runtime) -> int:
    """How many dashboard users exist (0 means the first-run account page is offered)."""
    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(DashboardUser)) or 0


def create_user(rt: Runtime, email: str, password: str, *, language: str = "") -> int:
    """Add a user; raises :class:`SettingsError` naming the field that is wrong."""
    email = _normalise(email)
    problems: dict[str, str] = {}
    if "@" not in email or len(email) > 254:
        problems["email"] = "enter an e-mail address, e.g. owner@example.com"
    if len(password) < MIN_PASSWORD_LENGTH:
        problems["password"] = f"use at least {MIN_PASSWORD_LENGTH} characters"
    if problems:
        raise SettingsError(problems)
    with rt.db.session() as session:
        if session.scalar(select(DashboardUser.id).where(DashboardUser.email == email)) is not None:
            raise SettingsError({"email": f"a user {email} exists already"})
        user = DashboardUser(email=email, password_hash=_hasher.hash(password), language=language)
        session.add(user)
        session.flush()
        return user.id


def set_password(rt: Runtime, email: str, password: str) -> bool:
    """Replace a user's password; ``False`` if there is no such user."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SettingsError({"password": f"use at least {MIN_PASSWORD_LENGTH} characters"})
    with rt.db.session() as session:
        user = session.scalar(select(DashboardUser).where(DashboardUser.email == _normalise(email)))
        if user is None:
            return False
        user.password_hash = _hasher.hash(password)
        return True


def _failures_since(rt: Runtime, client: str, email: str, since: datetime) -> tuple[int, datetime | None]:
    with rt.db.session() as session:
        query = select(func.count(), func.min(LoginAttempt.attempted_at)).where(
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at >= since,
            (LoginAttempt.client == client) | (LoginAttempt.email == email),
        )
        count, oldest = session.execute(query).one()
    return int(count or 0), oldest


def authenticate(rt: Runtime, email: str, password: str, client: str) -> LoginResult:
    """Check a login, recording the attempt. Refuses without checking while the rate limit holds."""
    cfg = rt.config.dashboard
    email = _normalise(email)[:254]
    now = datetime.now(UTC)
    window = timedelta(seconds=cfg.login_window_seconds)
    failures, oldest = _failures_since(rt, client, email, now - window)
    if failures >= cfg.login_max_failures:
        wait = int(((oldest or now) + window - now).total_seconds()) + 1
        return LoginResult(limited_seconds=max(wait, 1))
    with rt.db.session() as session:
        user = session.scalar(select(DashboardUser).where(DashboardUser.email == email, DashboardUser.active))
        stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        valid = _hasher.verify(stored, password) and user is not None
    except (VerificationError, InvalidHashError):
        valid = False
    with rt.db.session() as session:
        session.add(LoginAttempt(client=client[:64], email=email, succeeded=valid, attempted_at=now))
        if valid and user is not None:
            row = session.get(DashboardUser, user.id)
            if row is not None:
                row.last_login_at = now
                if _hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = _hasher.hash(password)
    if not valid or user is None:
        return LoginResult()
    return LoginResult(user_id=user.id, language=user.language)
