"""Dashboard users: creating them (the first one through a setup link) in a workspace with a role, checking passwords
(argon2id) under the login throttle, and ending their sessions (each session carries the user's
``session_version``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, text

from connector import roles
from connector.dashboard import setup_link, throttle
from connector.db.models_dashboard import DashboardUser, LoginAttempt
from connector.errors import SettingsError
from connector.workspaces import operator_of, resolve

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

_hasher = PasswordHasher()
#: Verified against when the login name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")
MIN_PASSWORD_LENGTH = 10


class FirstUserExists(Exception):
    """The first user was created already (by another request, or on the command line)."""


class InvalidSetupToken(Exception):
    """The setup link's token is unknown, used or expired (``connector dashboard setup-link`` prints a new one)."""


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The outcome of a login attempt: the user on success, else why not (and how long to wait when limited)."""

    user_id: int | None = None
    language: str = ""
    role: str = "owner"
    #: Goes into the session; the session dies when the user's version moves on.
    session_version: int = 0
    limited_seconds: int = 0

    @property
    def ok(self) -> bool:
        return self.user_id is not None


def _normalise(email: str) -> str:
    return email.strip().lower()


def count_users(rt: Runtime) -> int:
    """How many dashboard users exist (0 means the first-user page is offered to holders of a setup link)."""
    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(DashboardUser)) or 0


def _checked(email: str, password: str) -> str:
    """The normalised login name; raises :class:`SettingsError` naming the field that is wrong."""
    email = _normalise(email)
    problems: dict[str, str] = {}
    if "@" not in email or len(email) > 254:
        problems["email"] = "enter an e-mail address, e.g. owner@example.com"
    if len(password) < MIN_PASSWORD_LENGTH:
        problems["password"] = f"use at least {MIN_PASSWORD_LENGTH} characters"
    if problems:
        raise SettingsError(problems)
    return email


def create_user(
    rt: Runtime,
    email: str,
    password: str,
    *,
    language: str = "",
    workspace: int | str | None = None,
    role: str = "owner",
) -> int:
    """Add a user to ``workspace`` (id or name, see :func:`connector.workspaces.resolve`) with ``role`` (``owner``
    or ``agent``); raises :class:`SettingsError` naming the field that is wrong."""
    email = _checked(email, password)
    try:
        role = roles.check_role(role)
    except ValueError as exc:
        raise SettingsError({"role": str(exc)}) from None
    with rt.db.session() as session:
        if session.scalar(select(DashboardUser.id).where(DashboardUser.email == email)) is not None:
            raise SettingsError({"email": f"a user {email} exists already"})
        user = DashboardUser(
            email=email,
            password_hash=_hasher.hash(password),
            language=language,
            workspace_id=resolve(session, workspace),
            role=role,
        )
        session.add(user)
        session.flush()
        return user.id


def create_first_user(rt: Runtime, email: str, password: str, token: str, *, language: str = "") -> LoginResult:
    """Create the first user with a setup link's ``token``, in one guarded transaction: of any number of
    concurrent calls exactly one succeeds. Raises :class:`FirstUserExists` when a user exists (or another call
    won), :class:`InvalidSetupToken`, or
    :class:`SettingsError` naming a wrong field. Returns the new user, logged in."""
    password_hash = _hasher.hash(password)  # slow: outside the transaction that holds the lock
    with rt.db.session() as session:
        if rt.db.is_postgres:
            # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs the table locked so that
            # two transactions cannot both see "no users yet".
            session.execute(text("LOCK TABLE dashboard_users IN SHARE ROW EXCLUSIVE MODE"))
        if session.scalar(select(func.count()).select_from(DashboardUser)):
            raise FirstUserExists()
        if not setup_link.consume(session, token):
            raise InvalidSetupToken()
        email = _checked(email, password)  # a wrong field rolls back, so the token stays usable
        # The first user owns the operator's workspace: the install's only one until more are made.
        user = DashboardUser(
            email=email, password_hash=password_hash, language=language, workspace_id=_operator_workspace(session)
        )
        session.add(user)
        session.flush()
        return LoginResult(user_id=user.id, language=language, session_version=user.session_version)


def _operator_workspace(session: Session) -> int:
    """The operator's workspace (the oldest, if several are), made when the schema has none."""
    from connector.db.models import Workspace

    found = session.scalar(select(Workspace.id).where(Workspace.operator).order_by(Workspace.id).limit(1))
    return found if found is not None else resolve(session)


def _find(session: Session, email: str) -> DashboardUser | None:
    return session.scalar(select(DashboardUser).where(DashboardUser.email == _normalise(email)))


def _update(rt: Runtime, email: str, **values: object) -> bool:
    """Set ``values`` on the user EMAIL and end their sessions; ``False`` if there is no such user."""
    with rt.db.session() as session:
        user = _find(session, email)
        if user is None:
            return False
        for name, value in values.items():
            setattr(user, name, value)
        user.session_version += 1
        return True


def set_password(rt: Runtime, email: str, password: str) -> bool:
    """Replace a user's password and end their sessions; ``False`` if there is no such user."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SettingsError({"password": f"use at least {MIN_PASSWORD_LENGTH} characters"})
    return _update(rt, email, password_hash=_hasher.hash(password))


def set_active(rt: Runtime, email: str, active: bool) -> bool:
    """(De)activate a user; deactivating ends their sessions and refuses their logins. ``False``: no such user."""
    return _update(rt, email, active=active)


def end_sessions(rt: Runtime, *, user_id: int | None = None, email: str = "") -> bool:
    """End every session of the user (by id or login name): their cookies stop working. ``False``: no such user."""
    if user_id is None:
        return _update(rt, email)
    with rt.db.session() as session:
        user = session.get(DashboardUser, user_id)
        if user is None:
            return False
        user.session_version += 1
        return True


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The user of a session that still counts: what the request may see and do."""

    id: int
    workspace_id: int
    role: str
    #: Their workspace is the operator's.
    operator: bool


def session_user(rt: Runtime, user_id: object, version: object) -> SessionUser | None:
    """The user of a session of ``user_id`` made at ``version`` if it still counts (the user exists, is active and
    has not logged out, changed the password or been deactivated since), else ``None``."""
    if not isinstance(user_id, int) or not isinstance(version, int):
        return None
    with rt.db.session() as session:
        user = session.scalar(select(DashboardUser).where(DashboardUser.id == user_id, DashboardUser.active))
        if user is None or user.session_version != version:
            return None
        return SessionUser(user.id, user.workspace_id, user.role, operator_of(session, user.workspace_id))


def session_is_current(rt: Runtime, user_id: object, version: object) -> bool:
    """Whether a session of ``user_id`` made at ``version`` still counts (see :func:`session_user`)."""
    return session_user(rt, user_id, version) is not None


def set_role(rt: Runtime, email: str, role: str) -> bool:
    """Give the user EMAIL the role ``owner`` or ``agent`` (their sessions end); ``False`` if there is no such user."""
    try:
        role = roles.check_role(role)
    except ValueError as exc:
        raise SettingsError({"role": str(exc)}) from None
    return _update(rt, email, role=role)


def authenticate(rt: Runtime, email: str, password: str, client: str) -> LoginResult:
    """Check a login under the throttle, recording the attempt. While the throttle holds, nothing is checked."""
    email = _normalise(email)[:254]
    keys = throttle.keys_for(client, email)
    wait = throttle.reserve(rt, keys)
    if wait > 0:
        return LoginResult(limited_seconds=max(1, math.ceil(wait)))
    now = datetime.now(UTC)
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
    throttle.clear(rt, keys)
    return LoginResult(user_id=user.id, language=user.language, role=user.role, session_version=user.session_version)
