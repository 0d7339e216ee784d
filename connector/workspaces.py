"""Workspaces: creating, listing and renaming them, and choosing the workspace a new shop, user or token goes into.

A single-shop install has one workspace (the migration's default, the operator's) and never names it: whatever is
created goes there. Once there are several, the workspace must be named (``--workspace`` on the command line), or
it is the one of the API token or dashboard user making the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from connector.db.models import ApiToken, ShopConnection, Workspace
from connector.db.models_dashboard import DashboardUser
from connector.errors import SettingsError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime


@dataclass(frozen=True, slots=True)
class WorkspaceInfo:
    """A workspace as ``connector workspaces list`` shows it."""

    id: int
    name: str
    operator: bool
    created_at: datetime
    shops: int
    users: int
    tokens: int


def _named(session: Session, workspace: int | str) -> Workspace | None:
    """The workspace with this id or name."""
    if isinstance(workspace, int) or str(workspace).isdigit():
        return session.get(Workspace, int(workspace))
    return session.scalar(select(Workspace).where(Workspace.name == str(workspace).strip()))


def resolve(session: Session, workspace: int | str | None = None) -> int:
    """The id of the workspace something new goes into: the one named (id or name), else the request's, else the
    only one there is. Raises :class:`SettingsError` (field ``workspace``) when it cannot tell."""
    if workspace is not None and workspace != "":
        found = _named(session, workspace)
        if found is None:
            raise SettingsError({"workspace": f"no workspace {workspace}"})
        return found.id
    from connector.api.scope import bound  # the API package imports this module

    seen = bound()
    if seen is not None:
        return seen.workspace_id
    ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id).limit(2)))
    if len(ids) == 1:
        return ids[0]
    if not ids:  # a schema made without the migrations (``Database.create_all``): the default, as they make it
        default = Workspace(name="Default", operator=True)
        session.add(default)
        session.flush()
        return default.id
    raise SettingsError({"workspace": "there are several workspaces: name one (--workspace ID or NAME)"})


def create_workspace(rt: Runtime, name: str, *, operator: bool = False) -> int:
    """Add a workspace; raises :class:`SettingsError` when the name is empty, too long or taken."""
    name = name.strip()
    if not name or len(name) > 200:
        raise SettingsError({"name": "give the workspace a name of 1 to 200 characters"})
    with rt.db.session() as session:
        if session.scalar(select(Workspace.id).where(Workspace.name == name)) is not None:
            raise SettingsError({"name": f"a workspace {name!r} exists already"})
        row = Workspace(name=name, operator=operator)
        session.add(row)
        session.flush()
        return row.id


def rename_workspace(rt: Runtime, workspace: int | str, name: str) -> bool:
    """Rename a workspace; ``False`` when there is no such workspace."""
    name = name.strip()
    if not name or len(name) > 200:
        raise SettingsError({"name": "give the workspace a name of 1 to 200 characters"})
    with rt.db.session() as session:
        row = _named(session, workspace)
        if row is None:
            return False
        taken = session.scalar(select(Workspace.id).where(Workspace.name == name, Workspace.id != row.id))
        if taken is not None:
            raise SettingsError({"name": f"a workspace {name!r} exists already"})
        row.name = name
        return True


def move_shop(rt: Runtime, shop_id: int, workspace: int | str) -> bool:
    """Move a shop connection (and so its channels, contacts, orders and catalog) to another workspace. Tokens
    restricted to that shop stop working (they belong to the old workspace). ``False``: no such shop."""
    with rt.db.session() as session:
        target = resolve(session, workspace)
        shop = session.get(ShopConnection, shop_id)
        if shop is None:
            return False
        shop.workspace_id = target
        return True


def list_workspaces(rt: Runtime) -> list[WorkspaceInfo]:
    """Every workspace with how many shops, users and tokens it has, oldest first."""

    def counts(column: object) -> dict[int, int]:
        return dict(session.execute(select(column, func.count()).group_by(column)).all())  # type: ignore[call-overload]

    with rt.db.session() as session:
        shops = counts(ShopConnection.workspace_id)
        users = counts(DashboardUser.workspace_id)
        tokens = counts(ApiToken.workspace_id)
        return [
            WorkspaceInfo(
                row.id,
                row.name,
                row.operator,
                row.created_at,
                shops.get(row.id, 0),
                users.get(row.id, 0),
                tokens.get(row.id, 0),
            )
            for row in session.scalars(select(Workspace).order_by(Workspace.id))
        ]


def operator_of(session: Session, workspace_id: int) -> bool:
    """Whether the workspace is the operator's (may change deployment-wide settings)."""
    return bool(session.scalar(select(Workspace.operator).where(Workspace.id == workspace_id)))
