"""``connector workspaces list | create | rename | move-shop``: the tenants of a multi-tenant deployment.

Shops, dashboard users and API tokens belong to a workspace; ``--workspace ID|NAME`` on ``connections add``,
``tokens create`` and ``dashboard add-user`` says which (not needed while there is only one).
"""

from __future__ import annotations

import json
from typing import Any

import click

from connector.errors import SettingsError

#: ``--workspace`` of the commands that create or list what belongs to a workspace.
workspace_option = click.option(
    "--workspace",
    default=None,
    metavar="ID|NAME",
    help="The workspace (see `connector workspaces list`); needed once there are several.",
)


def _fail(exc: SettingsError) -> click.ClickException:
    return click.BadParameter(str(exc), param_hint="--workspace" if "workspace" in exc.errors else None)


def workspace_id_of(runtime: Any, workspace: str | None) -> int | None:
    """The id of the workspace ``--workspace`` names, ``None`` when it names none; a usage error when unknown."""
    from connector.workspaces import resolve

    if workspace is None:
        return None
    try:
        with runtime.db.session() as session:
            return resolve(session, workspace)
    except SettingsError as exc:
        raise _fail(exc) from None


def connector_register_cli(cli: click.Group) -> None:
    """Add ``connector workspaces``."""

    @cli.group("workspaces")
    def workspaces() -> None:
        """Workspaces: who sees which shops (an agency's or a host's customers)."""

    @workspaces.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    @click.pass_obj
    def list_command(state: Any, as_json: bool) -> None:
        """List workspaces: id, name, operator (may change deployment-wide settings), shops, users, tokens."""
        from rich.console import Console
        from rich.table import Table

        from connector.workspaces import list_workspaces

        rows = list_workspaces(state.runtime)
        if as_json:
            keys = ("id", "name", "operator", "shops", "users", "tokens")
            click.echo(json.dumps([{k: getattr(w, k) for k in keys} for w in rows], indent=2))
            return
        table = Table("id", "name", "operator", "shops", "users", "tokens")
        for w in rows:
            table.add_row(str(w.id), w.name, "yes" if w.operator else "", str(w.shops), str(w.users), str(w.tokens))
        Console(width=200).print(table)

    @workspaces.command("create")
    @click.argument("name")
    @click.option("--operator", is_flag=True, help="Its owners may change deployment-wide settings (plugins, jobs).")
    @click.pass_obj
    def create_command(state: Any, name: str, operator: bool) -> None:
        """Create a workspace named NAME and print its id."""
        from connector.workspaces import create_workspace

        try:
            workspace_id = create_workspace(state.runtime, name, operator=operator)
        except SettingsError as exc:
            raise click.BadParameter(str(exc), param_hint="NAME") from None
        click.echo(f"created workspace {workspace_id} ({name.strip()})")

    @workspaces.command("rename")
    @click.argument("workspace")
    @click.argument("name")
    @click.pass_obj
    def rename_command(state: Any, workspace: str, name: str) -> None:
        """Rename the workspace WORKSPACE (id or name) to NAME."""
        from connector.workspaces import rename_workspace

        try:
            found = rename_workspace(state.runtime, workspace, name)
        except SettingsError as exc:
            raise click.BadParameter(str(exc), param_hint="NAME") from None
        if not found:
            raise click.UsageError(f"no workspace {workspace} (see `connector workspaces list`)")
        click.echo(f"renamed workspace {workspace} to {name.strip()}")

    @workspaces.command("move-shop")
    @click.argument("shop_id", type=click.IntRange(min=1))
    @click.argument("workspace")
    @click.pass_obj
    def move_command(state: Any, shop_id: int, workspace: str) -> None:
        """Move the shop connection SHOP_ID, with its channels, contacts and orders, into WORKSPACE."""
        from connector.workspaces import move_shop

        try:
            found = move_shop(state.runtime, shop_id, workspace)
        except SettingsError as exc:
            raise _fail(exc) from None
        if not found:
            raise click.UsageError(f"no shop connection {shop_id} (see `connector connections list`)")
        click.echo(f"moved shop connection {shop_id} to workspace {workspace}")
