"""The ``connector`` command line.

Every command reads the configuration from ``--config`` (or ``$CONNECTOR_CONFIG``, or
``./connector.toml`` when it exists) and fails with a readable message on invalid configuration.
Plugins add commands through ``connector_register_cli``.

Start-up stays fast (``connector --help`` and shell completion run on every TAB): this module imports only click
and what it needs to parse arguments. The ORM, rich, the configuration model and the plugins are imported inside
the commands that use them; third-party plugins' commands are loaded only when a name is not a core command.

Exit codes: 0 done; 1 the operation failed (a connection test, a sync, a send, a webhook registration); 2 a usage
or configuration error; 3 the environment is in the way (port in use, database unreachable, a file or folder not
writable).
"""

from __future__ import annotations

import errno
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from connector import __version__
from connector.cli_workspaces import workspace_id_of, workspace_option
from connector.errors import ConfigError, ConnectionTestError, ConnectorError, NotFound, SettingsError

if TYPE_CHECKING:
    from rich.console import Console

    from connector.config import Config

DEFAULT_CONFIG = "connector.toml"
#: Exit statuses (documented in docs/operations.md).
EXIT_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 1, 2, 3
#: Core modules whose ``connector_register_cli`` adds commands; they import nothing heavy at module level.
CORE_CLI_MODULES = (
    "connector.dashboard.plugin",
    "connector.cluster.plugin",
    "connector.cli_workspaces",
    "connector.notify.cli_recovery",
    "connector.campaigns.cli",
)


def err_console() -> Console:
    """A rich console on stderr (rich is imported on first use)."""
    from rich.console import Console

    return Console(stderr=True)


def out_console(**kwargs: Any) -> Console:
    from rich.console import Console

    return Console(**kwargs)


class State:
    """Lazily built config and runtime, shared by the commands of one invocation."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._config: Config | None = None
        self._runtime: Any = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from connector.config import load_config
            from connector.envcheck import unknown_variables

            for name, close in unknown_variables():
                hint = f"; did you mean {close}?" if close else ""
                click.echo(f"Warning: the environment variable {name} is not a setting{hint}", err=True)
            path = self.config_path
            if path is None and Path(DEFAULT_CONFIG).is_file():
                path = DEFAULT_CONFIG
            self._config = load_config(path)
        return self._config

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            from connector.runtime import Runtime

            self._runtime = Runtime(self.config)
        return self._runtime


pass_state = click.make_pass_decorator(State)


def environment_problem(exc: BaseException) -> str | None:
    """One sentence for an operator mistake the environment shows (busy port, unreachable or unwritable
    database, unwritable folder), or ``None`` for a real bug (which keeps its traceback)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if "unable to open database file" in reason or "readonly database" in reason:
            return f"Cannot write the database ({reason}): check that its folder exists and is writable."
        return f"Cannot reach the database ({reason}): check [database] url and that the server is running."
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        if exc.errno == errno.EADDRINUSE:
            return "The port is already in use: stop the other process or choose another one with --port."
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"Cannot write{where}: permission denied; make it writable or choose another location."
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"Cannot use{where}: its folder does not exist (or is a file); create it or choose another path."
        if exc.errno == errno.ENOSPC:
            return f"Cannot write{where}: the disk is full."
    return None


class ConnectorGroup(click.Group):
    """The root command: loads plugin commands lazily, and turns connector errors and operator mistakes into one
    readable line and a non-zero exit status instead of a traceback."""

    _core_loaded = False
    _plugins_loaded = False

    def _load_core(self) -> None:
        if not self._core_loaded:
            import importlib

            self._core_loaded = True
            for module in CORE_CLI_MODULES:
                importlib.import_module(module).connector_register_cli(cli=self)

    def _load_plugins(self) -> None:
        """Third-party plugins' commands (imports every plugin: only for a name no core command has)."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        extra = click.Group()
        _plugins(disabled=_disabled_from_env()).register_cli(extra)
        for name, command in extra.commands.items():
            self.commands.setdefault(name, command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_core()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_core()
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_plugins()
            command = super().get_command(ctx, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            err_console().print(f"[red]Configuration error:[/red] {exc}")
            sys.exit(EXIT_USAGE)
        except (ConnectorError, ValueError) as exc:
            err_console().print(f"[red]Error:[/red] {exc}")
            sys.exit(EXIT_FAILED)
        except Exception as exc:
            problem = environment_problem(exc)
            if problem is None:
                raise
            click.echo(f"Error: {problem}", err=True)
            sys.exit(EXIT_ENVIRONMENT)


@click.group(cls=ConnectorGroup)
@click.option(
    "--config",
    "config_path",
    envvar="CONNECTOR_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (TOML). Default: $CONNECTOR_CONFIG, else ./connector.toml if it exists, else built-in defaults.",
)
@click.version_option(__version__, prog_name="connector")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Chatshop Connector: sync a shop's catalog into chat, notify customers, and sell in chat."""
    ctx.obj = State(config_path)


# ---------------------------------------------------------------------------- setup


@cli.command()
@click.option(
    "--path",
    default=DEFAULT_CONFIG,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the config.",
)
@click.option(
    "--database-url", default="sqlite:///connector.db", show_default=True, help="SQLAlchemy URL of the database."
)
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
def init(path: str, database_url: str, force: bool) -> None:
    """Write a config file with fresh secrets, create the database, and print an admin API token and a one-time
    link to create the first dashboard user."""
    from connector.api.auth import create_token
    from connector.config import generate_secrets
    from connector.db.migrate import upgrade
    from connector.runtime import Runtime

    target = Path(path)
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists; use --force to overwrite it")
    secrets = generate_secrets()
    template = (Path(__file__).parent / "default_config.toml").read_text()
    text = (
        template.replace('url = "sqlite:///connector.db"', f'url = "{database_url}"')
        .replace('secret_key = ""', f'secret_key = "{secrets["secret_key"]}"')
        .replace("encryption_keys = []", f'encryption_keys = ["{secrets["encryption_key"]}"]')
    )
    target.write_text(text)
    target.chmod(0o600)
    from connector.config import load_config

    runtime = Runtime(load_config(target))
    upgrade(runtime.db)
    token = create_token(runtime, "created by connector init")
    click.echo(f"Wrote {target} and created the database.")
    click.echo(f"Admin API token (shown once): {token}")
    from connector.dashboard import setup_link

    click.echo(
        f"Create the first dashboard user (link works once): {setup_link.link(runtime, setup_link.new_token(runtime))}"
    )


@cli.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@pass_state
def db_upgrade(state: State, revision: str) -> None:
    """Apply migrations up to REVISION."""
    from connector.db.migrate import current_revision, upgrade

    upgrade(state.runtime.db, revision)
    click.echo(f"database at revision {current_revision(state.runtime.db)}")


@db.command("current")
@pass_state
def db_current(state: State) -> None:
    """Show the database's revision and whether it is up to date."""
    from connector.db.migrate import current_revision, head_revision

    current, head = current_revision(state.runtime.db), head_revision(state.runtime.db)
    click.echo(
        f"current: {current}  head: {head}  {'(up to date)' if current == head else '(run: connector db upgrade)'}"
    )


@cli.command("rotate-keys")
@pass_state
def rotate_keys(state: State) -> None:
    """Re-encrypt every stored secret and personal data (messages, addresses, webhook payloads) with the first key
    of security.encryption_keys (then the old key can go)."""
    from sqlalchemy import select

    from connector.db.models import ChannelConnection, PluginSetting, ShopConnection

    rt = state.runtime
    count = 0
    with rt.db.session() as session:
        for model in (ShopConnection, ChannelConnection):
            for row in session.scalars(select(model).where(model.secrets.is_not(None))):
                row.secrets = rt.secrets.rotate(row.secrets)
                count += 1
        for setting in session.scalars(select(PluginSetting).where(PluginSetting.secret.is_not(None))):
            setting.secret = rt.secrets.rotate(setting.secret)
            count += 1
    click.echo(f"re-encrypted {count} secret value(s) with the newest key")
    from connector.privacy.rotate import rotate_personal_data

    click.echo(f"re-encrypted {rotate_personal_data(rt)} stored message(s), address(es) and payload(s)")


@cli.group()
def tokens() -> None:
    """Admin API tokens."""


class Duration(click.ParamType):
    """A duration: ``90d``, ``12h``, ``30m``, ``45s`` or ``2w``."""

    name = "duration"
    UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        number, unit = text[:-1], text[-1:]
        if unit not in self.UNITS or not number.isdigit() or int(number) == 0:
            self.fail(f"expected a number and a unit (s, m, h, d, w), like 90d; got {value!r}", param, ctx)
        return timedelta(seconds=int(number) * self.UNITS[unit])


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(["read", "write"]),
    default="write",
    show_default=True,
    help="read: GET requests only (dashboards, Prometheus); write: everything.",
)
@click.option("--expires-in", type=Duration(), default=None, help="Refuse the token after this long, e.g. 90d.")
@click.option(
    "--shop",
    "shop_id",
    type=click.IntRange(min=1),
    default=None,
    help="Restrict the token to this shop connection id: it sees and changes only that shop and what belongs to it.",
)
@workspace_option
@click.option(
    "--role",
    type=click.Choice(["owner", "agent"]),
    default="owner",
    show_default=True,
    help="owner: every operation of its workspace; agent: contacts' consent only.",
)
@pass_state
def tokens_create(
    state: State,
    name: str,
    scope: str,
    expires_in: timedelta | None,
    shop_id: int | None,
    workspace: str | None,
    role: str,
) -> None:
    """Create an admin API token named NAME and print it (only this once). It sees only its workspace's shops."""
    from connector.api.auth import create_token
    from connector.errors import NotFound

    try:
        token = create_token(
            state.runtime,
            name,
            scope=scope,  # type: ignore[arg-type]
            expires_in=expires_in,
            shop_connection_id=shop_id,
            workspace=workspace,
            role=role,
        )
    except NotFound as exc:
        raise click.BadParameter(str(exc), param_hint="--shop") from exc
    except SettingsError as exc:
        raise click.BadParameter(str(exc), param_hint="--workspace") from exc
    click.echo(token)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@workspace_option
@pass_state
def tokens_list(state: State, as_json: bool, workspace: str | None) -> None:
    """List tokens (of one workspace): id, name, scope, workspace, role, shop (the one shop connection it is
    restricted to; empty: all of its workspace), state (active, expired, revoked), created, expires, last used (to
    the minute)."""
    from connector.api.auth import list_tokens

    def when(moment: datetime | None) -> str:
        return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""

    rows = list_tokens(state.runtime, workspace_id=workspace_id_of(state.runtime, workspace))
    if as_json:
        keys = ("created_at", "expires_at", "last_used_at", "revoked_at")
        click.echo(
            json.dumps(
                [
                    {
                        "id": t.id,
                        "name": t.name,
                        "scope": t.scope,
                        "workspace_id": t.workspace_id,
                        "role": t.role,
                        "shop_connection_id": t.shop_connection_id,
                        "state": t.state(),
                        **{k: getattr(t, k).isoformat() if getattr(t, k) else None for k in keys},
                    }
                    for t in rows
                ],
                indent=2,
            )
        )
        return
    table = _table("id", "name", "scope", "workspace", "role", "shop", "state", "created", "expires", "last used")
    for t in rows:
        shop = str(t.shop_connection_id) if t.shop_connection_id is not None else ""
        table.add_row(
            str(t.id),
            t.name,
            t.scope,
            str(t.workspace_id),
            t.role,
            shop,
            t.state(),
            when(t.created_at),
            when(t.expires_at),
            when(t.last_used_at),
        )
    out_console(width=200).print(table)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@pass_state
def tokens_revoke(state: State, token_id: int) -> None:
    """Revoke the token with id TOKEN_ID (see ``connector tokens list``): refused from now on."""
    from connector.api.auth import revoke_token

    info = revoke_token(state.runtime, token_id)
    if info is None:
        raise click.ClickException(f"no token with id {token_id} (see `connector tokens list`)")
    click.echo(f"revoked token {info.id} ({info.name})")


# ---------------------------------------------------------------------------- plugins


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
def plugins_cmd(state: State, as_json: bool) -> None:
    """List installed plugins: name, kind, version and where each came from."""
    disabled = state.config.plugins.disabled
    infos = _plugins(disabled=disabled).describe()
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps([asdict(i) for i in infos], indent=2))
        return
    table = _table("name", "kind", "adapters", "version", "source")
    for info in infos:
        table.add_row(info.name, ", ".join(info.kinds), ", ".join(info.adapters), info.version or "", info.source)
    out_console().print(table)


# ---------------------------------------------------------------------------- connections


@cli.group()
def connections() -> None:
    """Shop and channel connections."""


def _parse_settings(pairs: tuple[str, ...]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        settings[key.strip()] = value
    return settings


@connections.command("add")
@click.argument("kind", type=click.Choice(["shop", "channel"]))
@click.argument("adapter")
@click.option("--name", default="", help="A name for the connection.")
@click.option("--shop", "shop_id", type=int, help="For a channel: the shop connection it serves.")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="A setting of the plugin (repeat).")
@click.option(
    "--test/--no-test",
    default=True,
    show_default=True,
    help="Test the credentials before keeping the connection (a failing one is not saved).",
)
@click.option(
    "--disabled", is_flag=True, help="Save the connection disabled, even when its test fails (enable it later)."
)
@click.option(
    "--delta-minutes",
    type=click.IntRange(1),
    help="For a shop: incremental sync interval (default: sync.delta_interval_minutes).",
)
@click.option(
    "--full-at", metavar="HH:MM", help="For a shop: time of the daily full reconcile (default: sync.full_sync_at)."
)
@workspace_option
@pass_state
def connections_add(
    state: State,
    kind: str,
    adapter: str,
    name: str,
    shop_id: int | None,
    pairs: tuple[str, ...],
    test: bool,
    disabled: bool,
    delta_minutes: int | None,
    full_at: str | None,
    workspace: str | None,
) -> None:
    """Create a connection: ``connector connections add shop shopify --set shop_url=https://... --set ...``.

    The credentials are tested with one live call first; a connection whose test fails is not saved (exit 1)
    unless --disabled. Run ``connector connections fields ADAPTER`` to see the settings a plugin needs.
    """
    rt = state.runtime
    settings = _parse_settings(pairs)
    try:
        if kind == "shop":
            if full_at is not None:
                from connector.config import SyncConfig

                SyncConfig(full_sync_at=full_at)  # same validation as the config file
            row = rt.connections.create_shop(
                name=name,
                platform=adapter,
                settings=settings,
                delta_interval_minutes=delta_minutes,
                full_sync_at=full_at,
                workspace=workspace,
            )
        else:
            if shop_id is None:
                raise click.UsageError("a channel connection needs --shop ID")
            _in_workspace(rt, workspace, "shop", shop_id)
            row = rt.connections.create_channel(
                shop_connection_id=shop_id, name=name, channel=adapter, settings=settings
            )
    except SettingsError as exc:
        for field, problem in exc.errors.items():
            err_console().print(f"[red]{field}[/red]: {problem}")
        sys.exit(EXIT_FAILED)
    if disabled:
        _set_enabled(rt, kind, row.id, False)
    if test and not _report_test(rt, kind, row.id) and not disabled:
        rt.connections.delete(kind, row.id)
        err_console().print(
            "not saved: fix the settings and add it again, or keep it disabled with --disabled "
            f"(see `connector connections fields {adapter}`)"
        )
        sys.exit(EXIT_FAILED)
    state_note = " (disabled: `connector connections enable` when it works)" if disabled else ""
    click.echo(
        f"created {kind} connection {row.id}{state_note}; webhook URL: {rt.connections.webhook_url(adapter, row.id)}"
    )


def _in_workspace(rt: Any, workspace: str | None, kind: str, connection_id: int) -> None:
    """A usage error unless the connection is in ``--workspace`` (when given): another workspace's is "no such"."""
    from connector.db.models import ChannelConnection, ShopConnection

    workspace_id = workspace_id_of(rt, workspace)
    if workspace_id is None:
        return
    with rt.db.session() as session:
        if kind == "shop":
            row = session.get(ShopConnection, connection_id)
        else:
            channel = session.get(ChannelConnection, connection_id)
            row = session.get(ShopConnection, channel.shop_connection_id) if channel is not None else None
        if row is None or row.workspace_id != workspace_id:
            raise click.UsageError(f"no {kind} connection {connection_id} in workspace {workspace}")


def _set_enabled(rt: Any, kind: str, connection_id: int, enabled: bool) -> None:
    from connector.db.models import ChannelConnection, ShopConnection

    model = ShopConnection if kind == "shop" else ChannelConnection
    with rt.db.session() as session:
        row = session.get(model, connection_id)
        if row is None:
            raise click.UsageError(f"no {kind} connection {connection_id} (see `connector connections list`)")
        row.enabled = enabled
    rt.connections.invalidate(kind, connection_id)


@connections.command("delete")
@click.argument("kind", type=click.Choice(["shop", "channel"]))
@click.argument("connection_id", type=int)
@click.confirmation_option(prompt="Delete the connection and everything stored for it?")
@workspace_option
@pass_state
def connections_delete(state: State, kind: str, connection_id: int, workspace: str | None = None) -> None:
    """Delete a connection and what is stored for it (a shop's channels, catalog, orders, contacts). Use --yes
    in scripts."""
    _in_workspace(state.runtime, workspace, kind, connection_id)
    try:
        state.runtime.connections.delete(kind, connection_id)
    except NotFound as exc:
        raise click.UsageError(f"{exc} (see `connector connections list`)") from None
    click.echo(f"deleted {kind} connection {connection_id}")


@connections.command("disable")
@click.argument("kind", type=click.Choice(["shop", "channel"]))
@click.argument("connection_id", type=int)
@workspace_option
@pass_state
def connections_disable(state: State, kind: str, connection_id: int, workspace: str | None = None) -> None:
    """Stop syncing and sending through a connection, keeping its settings and data."""
    _in_workspace(state.runtime, workspace, kind, connection_id)
    _set_enabled(state.runtime, kind, connection_id, False)
    click.echo(f"disabled {kind} connection {connection_id}")


@connections.command("enable")
@click.argument("kind", type=click.Choice(["shop", "channel"]))
@click.argument("connection_id", type=int)
@click.option("--test/--no-test", default=True, show_default=True, help="Test the credentials first.")
@workspace_option
@pass_state
def connections_enable(state: State, kind: str, connection_id: int, test: bool, workspace: str | None = None) -> None:
    """Enable a connection again (after a test, unless --no-test; a failing one stays disabled, exit 1)."""
    _in_workspace(state.runtime, workspace, kind, connection_id)
    rt = state.runtime
    try:
        rt.connections.ref(kind, connection_id)
    except NotFound as exc:
        raise click.UsageError(f"{exc} (see `connector connections list`)") from None
    if test and not _report_test(rt, kind, connection_id):
        sys.exit(EXIT_FAILED)
    _set_enabled(rt, kind, connection_id, True)
    click.echo(f"enabled {kind} connection {connection_id}")


@connections.command("set")
@click.argument("kind", type=click.Choice(["shop", "channel"]))
@click.argument("connection_id", type=int)
@click.option("--name", default=None, help="A new name for the connection.")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="A setting to change (repeat).")
@click.option("--test/--no-test", default=True, show_default=True, help="Test the credentials after the change.")
@workspace_option
@pass_state
def connections_set(
    state: State,
    kind: str,
    connection_id: int,
    name: str | None,
    pairs: tuple[str, ...],
    test: bool,
    workspace: str | None = None,
) -> None:
    """Change some settings of a connection and keep the rest, its id and webhook URL:
    ``connector connections set channel 2 --set access_token=EAAG...`` (a rotated token)."""
    _in_workspace(state.runtime, workspace, kind, connection_id)
    rt = state.runtime
    try:
        rt.connections.update_settings(kind, connection_id, _parse_settings(pairs), name=name)
    except NotFound as exc:
        raise click.UsageError(str(exc)) from None
    except SettingsError as exc:
        for field, problem in exc.errors.items():
            err_console().print(f"[red]{field}[/red]: {problem}")
        sys.exit(1)
    click.echo(f"updated {kind} connection {connection_id}")
    if test and not _report_test(rt, kind, connection_id):
        sys.exit(1)


@connections.command("fields")
@click.argument("adapter")
@pass_state
def connections_fields(state: State, adapter: str) -> None:
    """Show the settings a shop or channel plugin needs."""
    plugins = _plugins(disabled=state.config.plugins.disabled)
    cls: Any = plugins.shop_adapters.get(adapter) or plugins.channel_adapters.get(adapter)
    if cls is None:
        raise click.UsageError(f"no adapter named {adapter!r}")
    table = _table("setting", "label", "type", "required", "default", "help")
    for f in cls.config_fields:
        table.add_row(f.name, f.label, f.type.value, "yes" if f.required else "no", str(f.default or ""), f.help)
    out_console().print(table)


@connections.command("list")
@click.option("--json", "as_json", is_flag=True)
@workspace_option
@pass_state
def connections_list(state: State, as_json: bool, workspace: str | None) -> None:
    """List connections (of one workspace)."""
    rt = state.runtime
    workspace_id = workspace_id_of(rt, workspace)
    shops = rt.connections.shops(workspace_id=workspace_id)
    in_workspace = {s.id: s.workspace_id for s in rt.connections.shops()}
    rows = [("shop", s.id, s.platform, s.name, None, s.enabled, s.workspace_id) for s in shops]
    rows += [
        ("channel", c.id, c.channel, c.name, c.shop_connection_id, c.enabled, in_workspace[c.shop_connection_id])
        for c in rt.connections.channels(workspace_id=workspace_id)
    ]
    if as_json:
        keys = ("kind", "id", "adapter", "name", "shop_connection_id", "enabled", "workspace_id")
        click.echo(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2))
        return
    table = _table("kind", "id", "adapter", "name", "shop", "enabled", "workspace")
    for r in rows:
        table.add_row(
            r[0], str(r[1]), r[2], r[3], "" if r[4] is None else str(r[4]), "yes" if r[5] else "no", str(r[6])
        )
    out_console().print(table)


def _report_test(rt: Any, kind: str, connection_id: int) -> bool:
    try:
        info = rt.connections.test(kind, connection_id)
    except ConnectionTestError as exc:
        err_console().print(f"[red]✗ {kind} {connection_id}:[/red] {exc}")
        return False
    err_console().print(f"[green]✓ {kind} {connection_id}:[/green] connected to {info.name}")
    return True


@connections.command("test")
@click.argument("kind", type=click.Choice(["shop", "channel", "all"]), default="all")
@click.argument("connection_id", type=int, required=False)
@pass_state
def connections_test(state: State, kind: str, connection_id: int | None) -> None:
    """Test connections' credentials with one live call each; exit 1 if any fails."""
    rt = state.runtime
    targets: list[tuple[str, int]] = []
    if kind == "all":
        targets = [("shop", s.id) for s in rt.connections.shops()] + [
            ("channel", c.id) for c in rt.connections.channels()
        ]
    elif connection_id is None:
        raise click.UsageError("give a connection id, or test all")
    else:
        targets = [(kind, connection_id)]
    ok = True
    for k, cid in targets:
        try:
            ok &= _report_test(rt, k, cid)
        except NotFound as exc:
            err_console().print(f"[red]✗[/red] {exc}")
            ok = False
    if not ok:
        sys.exit(1)


# ---------------------------------------------------------------------------- webhooks


@cli.group()
def webhooks() -> None:
    """Register, list and test a connection's webhooks (through the platform's API, like the dashboard's setup)."""


_KIND = click.argument("kind", type=click.Choice(["shop", "channel"]))
_ID = click.argument("connection_id", type=int)


@webhooks.command("register")
@_KIND
@_ID
@workspace_option
@pass_state
def webhooks_register(state: State, kind: str, connection_id: int, workspace: str | None) -> None:
    """Register the connection's webhooks on its platform (idempotent). A Meta channel's platform verifies this
    server, so run it while `connector serve` runs. Exit 1 with what to do by hand when it cannot."""
    _in_workspace(state.runtime, workspace, kind, connection_id)
    from connector.dashboard import webhook_setup

    try:
        click.echo(webhook_setup.register(state.runtime, kind, connection_id))  # type: ignore[arg-type]
    except NotFound as exc:
        raise click.UsageError(f"{exc} (see `connector connections list`)") from None
    except webhook_setup.WebhookSetupError as exc:
        err_console().print(f"[red]✗ {kind} {connection_id}:[/red] {exc}")
        sys.exit(EXIT_FAILED)


@webhooks.command("list")
@_KIND
@_ID
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@workspace_option
@pass_state
def webhooks_list(state: State, kind: str, connection_id: int, as_json: bool, workspace: str | None) -> None:
    """Show the webhook URL to register, its topics, the verify token (Meta), and webhooks received in 7 days."""
    _in_workspace(state.runtime, workspace, kind, connection_id)
    from dataclasses import asdict

    from connector.dashboard import webhook_setup

    try:
        info = webhook_setup.describe(state.runtime, kind, connection_id)  # type: ignore[arg-type]
    except NotFound as exc:
        raise click.UsageError(f"{exc} (see `connector connections list`)") from None
    if as_json:
        click.echo(json.dumps(asdict(info), indent=2))
        return
    click.echo(f"url: {info.url}")
    click.echo(f"topics: {', '.join(info.topics) or '(the app subscription decides)'}")
    if info.verify_token:
        click.echo(f"verify token: {info.verify_token}")
    click.echo(f"received in the last 7 days: {info.received_7d}")


@webhooks.command("test")
@_KIND
@_ID
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for the webhook to arrive.")
@workspace_option
@pass_state
def webhooks_test(state: State, kind: str, connection_id: int, timeout: float, workspace: str | None) -> None:
    """Make a sandbox send a webhook and wait until the running server received it (exit 1 if it did not).
    For a real platform, trigger an event there and watch `connector webhooks list`."""
    _in_workspace(state.runtime, workspace, kind, connection_id)
    import time

    from connector.dashboard import webhook_setup

    rt = state.runtime
    try:
        before = webhook_setup.describe(rt, kind, connection_id).received_7d  # type: ignore[arg-type]
        click.echo(webhook_setup.send_test(rt, kind, connection_id))  # type: ignore[arg-type]
    except NotFound as exc:
        raise click.UsageError(f"{exc} (see `connector connections list`)") from None
    except webhook_setup.WebhookSetupError as exc:
        err_console().print(f"[red]✗ {kind} {connection_id}:[/red] {exc}")
        sys.exit(EXIT_FAILED)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if webhook_setup.describe(rt, kind, connection_id).received_7d > before:  # type: ignore[arg-type]
            click.echo("received")
            return
        time.sleep(0.2)
    err_console().print(
        f"[red]✗ no webhook arrived within {timeout:g} s:[/red] is `connector serve` running, and did "
        f"`connector webhooks register {kind} {connection_id}` succeed?"
    )
    sys.exit(EXIT_FAILED)


# ---------------------------------------------------------------------------- sync


@cli.command()
@click.option("--full", is_flag=True, help="Read the whole shop and reconcile (deletes what the shop no longer has).")
@click.option("--connection", "shop_id", type=int, help="Only this shop connection (default: every enabled shop).")
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
@workspace_option
@pass_state
def sync(state: State, full: bool, shop_id: int | None, as_json: bool, workspace: str | None) -> None:
    """Sync the catalog now, with a progress bar and a summary."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from connector.sync.catalog import SyncBusy, run_sync

    rt = state.runtime
    if shop_id:
        _in_workspace(rt, workspace, "shop", shop_id)
    in_workspace = rt.connections.shops(workspace_id=workspace_id_of(rt, workspace))
    shops = [rt.connections.get_shop(shop_id)] if shop_id else [s for s in in_workspace if s.enabled]
    if not shops:
        raise click.UsageError("no shop connection; add one with `connector connections add shop ...`")
    summaries = []
    failed = False
    for shop in shops:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed} items"),
            TimeElapsedColumn(),
            console=err_console(),
            transient=as_json,
        ) as progress:
            read = progress.add_task(f"{shop.name}: reading", total=None)
            push = progress.add_task(f"{shop.name}: pushing", total=None)

            def report(stage: str, count: int, read: Any = read, push: Any = push) -> None:
                progress.advance(read if stage == "read" else push, count)

            try:
                summary = run_sync(rt, shop.id, mode="full" if full else "delta", trigger="manual", progress=report)
            except SyncBusy as exc:
                err_console().print(f"[yellow]{exc}[/yellow]")
                failed = True
                continue
        summaries.append(summary)
        if summary.status == "failed":
            failed = True
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps([asdict(s) for s in summaries], indent=2))
    else:
        table = _table(
            "shop", "mode", "status", "read", "created", "updated", "deleted", "unchanged", "failed", "calls", "seconds"
        )
        for s in summaries:
            table.add_row(
                str(s.shop_connection_id),
                s.mode,
                s.status,
                *(
                    str(x)
                    for x in (
                        s.read,
                        s.created,
                        s.updated,
                        s.deleted,
                        s.unchanged,
                        s.failed,
                        s.write_calls,
                        s.duration_seconds,
                    )
                ),
            )
        out_console().print(table)
    if failed:
        sys.exit(1)


@cli.command("catalog")
@click.option("--channel", "channel_id", type=int, help="Only this channel connection.")
@click.option(
    "--status",
    type=click.Choice(["pending", "synced", "error", "invalid", "deleted"]),
    help="Only items in this state.",
)
@click.option("--limit", default=50, show_default=True)
@pass_state
def catalog_cmd(state: State, channel_id: int | None, status: str | None, limit: int) -> None:
    """Show catalog items and why they are not in sync."""
    from sqlalchemy import select

    from connector.db.models import CatalogItem, ShopVariant

    stmt = select(CatalogItem, ShopVariant.title).join(ShopVariant, CatalogItem.shop_variant_id == ShopVariant.id)
    if channel_id:
        stmt = stmt.where(CatalogItem.channel_connection_id == channel_id)
    if status:
        stmt = stmt.where(CatalogItem.status == status)
    with state.runtime.db.session() as session:
        rows = session.execute(stmt.order_by(CatalogItem.id).limit(limit)).all()
    table = _table("channel", "retailer id", "title", "status", "why")
    for item, title in rows:
        why = "; ".join(str(e) for e in item.errors) if item.errors else ""
        table.add_row(str(item.channel_connection_id), item.retailer_id, title, item.status, why)
    out_console().print(table)


@cli.command("runs")
@click.option("--limit", default=20, show_default=True)
@pass_state
def runs_cmd(state: State, limit: int) -> None:
    """Show recent sync runs: when, why, counts, duration and errors."""
    from sqlalchemy import select

    from connector.db.models import SyncRun

    with state.runtime.db.session() as session:
        runs = list(session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)))
    table = _table(
        "id", "shop", "mode", "trigger", "status", "started", "created", "updated", "deleted", "failed", "errors"
    )
    for r in runs:
        table.add_row(
            str(r.id),
            str(r.shop_connection_id),
            r.mode,
            r.trigger,
            r.status,
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(r.created),
            str(r.updated),
            str(r.deleted),
            str(r.failed),
            "; ".join(map(str, r.errors))[:80],
        )
    out_console().print(table)


@cli.command("send-test")
@click.option("--channel", "channel_id", type=int, required=True, help="The channel connection to send from.")
@click.option("--to", required=True, help="Recipient phone number in international format, e.g. +4915112345678.")
@click.option("--text", help="Free-form text (only reaches someone who wrote to you in the last 24 hours).")
@click.option("--template", help="An approved template name, e.g. hello_world (reaches anyone who opted in).")
@click.option("--language", default="en_US", show_default=True, help="The template's language.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Send now and report the outcome.")
@pass_state
def send_test(
    state: State, channel_id: int, to: str, text: str | None, template: str | None, language: str, wait: bool
) -> None:
    """Send a test message to your own phone."""
    from connector.chat.messages import send_test_message
    from connector.db.models import OutboundMessage
    from connector.work.worker import drain

    rt = state.runtime
    rt.connections.get_channel(channel_id)
    message_id = send_test_message(rt, channel_id, to, text=text, template=template, language=language)
    if not wait:
        click.echo(f"queued message {message_id}")
        return
    drain(rt)
    with rt.db.session() as session:
        row = session.get(OutboundMessage, message_id)
    if row.status in ("sent", "delivered", "read"):
        click.echo(f"sent: {row.channel_message_id}")
        return
    err_console().print(f"[red]not sent ({row.status}):[/red] {row.error}")
    sys.exit(1)


# ---------------------------------------------------------------------------- running


@cli.command()
@click.option("--host", help="Listen address (default: server.host).")
@click.option("--port", type=int, help="Port (default: server.port).")
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler in this process.")
@click.option("--no-worker", is_flag=True, help="Do not run workers in this process.")
@pass_state
def serve(state: State, host: str | None, port: int | None, no_scheduler: bool, no_worker: bool) -> None:
    """Run the web app with the embedded worker and scheduler (one process does everything)."""
    from connector.db.migrate import is_up_to_date
    from connector.observability import configure_logging
    from connector.server import serve_forever

    rt = state.runtime
    configure_logging(rt.config)
    if not is_up_to_date(rt.db):
        raise ConfigError("the database schema is not up to date: run `connector db upgrade` first")
    status = serve_forever(rt, host=host, port=port, scheduler=not no_scheduler, worker=not no_worker)
    if status:
        raise click.exceptions.Exit(status)


@cli.command()
@click.option(
    "--shop",
    default="woocommerce",
    show_default=True,
    help="Which shop sandbox to start (shopify, woocommerce, shopware).",
)
@click.option(
    "--once", is_flag=True, help="Sync once, print a JSON report, stop everything; exit 0 only if the catalog matches."
)
@click.option("--port", default=8080, show_default=True, help="Port of the connector's web app.")
@click.option(
    "--data-dir",
    default="demo-data",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo keeps its SQLite database.",
)
def demo(shop: str, once: bool, port: int, data_dir: str) -> None:
    """Run the connector against sandbox shop and WhatsApp servers on this machine: nothing to configure."""
    from connector.demo import run_demo

    sys.exit(run_demo(shop=shop, once=once, port=port, data_dir=Path(data_dir)))


@cli.command("sandbox")
@click.argument("name")
@click.option("--port", default=0, help="Port (default: a free one).")
@click.option("--variants", type=int, help="A shop sandbox with a generated catalog of about this many variants.")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A sandbox option (repeat); values are JSON or text.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line {name, url, settings} when ready.")
def sandbox_cmd(name: str, port: int, variants: int | None, options: tuple[str, ...], as_json: bool) -> None:
    """Run one platform sandbox on its own, e.g. ``connector sandbox shopify --port 9001``."""
    import signal
    import threading

    sandboxes = _plugins().sandboxes()
    if name not in sandboxes:
        raise click.UsageError(f"no sandbox named {name!r}; installed: {', '.join(sorted(sandboxes))}")
    parsed: dict[str, Any] = {}
    for pair in options:
        key, _, value = pair.partition("=")
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    kwargs: dict[str, Any] = {"port": port, "options": parsed}
    if variants is not None:
        from connector.sandbox.seed import iter_products

        if sandboxes[name].kind != "shop":
            raise click.UsageError("--variants only applies to shop sandboxes")
        kwargs["products"] = list(iter_products(n_variants=variants))
    sandbox = sandboxes[name](**kwargs)
    url = sandbox.start()
    if as_json:
        click.echo(json.dumps({"name": name, "url": url, "settings": sandbox.connection_settings()}), nl=True)
    else:
        click.echo(f"{name} sandbox at {url}")
        click.echo(json.dumps(sandbox.connection_settings(), indent=2))
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


def main() -> None:
    """Entry point of the ``connector`` console script."""
    cli()


def _plugins(**kwargs: Any) -> Any:
    from connector.plugins import Plugins

    return Plugins(**kwargs)


def _table(*columns: str) -> Any:
    from rich.table import Table

    return Table(*columns)


def _disabled_from_env() -> list[str]:
    import os

    return [p.strip() for p in os.environ.get("CONNECTOR_PLUGINS__DISABLED", "").split(",") if p.strip()]
