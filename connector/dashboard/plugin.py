"""Hook implementations of the dashboard subsystem, registered as an essential core plugin.

* ``connector_register_blueprints``: the dashboard (``[dashboard] url_prefix``), its public opt-in route,
  request ids and ``/metrics`` (:mod:`connector.observability`).
* ``connector_register_jobs``: ``dashboard.prune_login_throttle`` (hourly) forgets spent login-throttle rows.
* ``connector_register_cli``: ``connector doctor`` and ``connector dashboard add-user / set-role / set-password /
  setup-link / deactivate / activate / end-sessions``.

The dashboard needs no runtime registry of its own: request code reaches the runtime through
:func:`connector.web.context.runtime`, and it enqueues tasks the core already handles (``catalog.sync``,
``message.send``).
"""

from __future__ import annotations

import atexit
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from connector import hookimpl
from connector.cli_workspaces import workspace_option
from connector.i18n.catalogs import LANGUAGES

if TYPE_CHECKING:
    import flask

    from connector.work.registry import TaskContext
    from connector.work.scheduler import JobRegistry


@hookimpl
def connector_register_blueprints(app: flask.Flask) -> list[Any]:
    """Mount the dashboard, the public opt-in endpoint and ``/metrics``; give every request an id."""
    from connector import observability

    runtime = app.extensions["connector"]
    settings = runtime.config.dashboard
    if runtime.config.logging.as_json:
        observability.configure_logging(runtime.config)
    blueprints = observability.install(
        app, runtime, metrics=settings.metrics_enabled, metrics_public=settings.metrics_public
    )
    if not settings.enabled:
        return blueprints
    from connector.dashboard.click_to_chat import public_blueprint
    from connector.dashboard.web import create_blueprint
    from connector.dashboard.wizard import demo_sandboxes

    public = public_blueprint()
    public.url_prefix = settings.url_prefix + "/public"
    if runtime.config.server.demo:
        atexit.register(demo_sandboxes(app).stop_all)
    return [*blueprints, create_blueprint(app), public]


@hookimpl
def connector_register_jobs(jobs: JobRegistry) -> None:
    """Prune the login throttle hourly."""
    jobs.interval("dashboard.prune_login_throttle", task="dashboard.prune_login_throttle", hours=1)

    @jobs.task("dashboard.prune_login_throttle")
    def prune_login_throttle(ctx: TaskContext) -> None:
        from connector.dashboard import throttle

        throttle.prune(ctx.runtime)


@hookimpl
def connector_register_cli(cli: click.Group) -> None:
    """Add ``connector doctor`` and the ``connector dashboard`` user commands."""

    @cli.command("doctor")
    @click.pass_obj
    def doctor(state: Any) -> None:
        """Check config, database, migrations, connections, webhooks and the scheduler; print what to fix."""
        from connector.dashboard.doctor import run_checks

        checks = run_checks(state)
        marks = {
            "ok": click.style("✓", fg="green"),
            "warn": click.style("!", fg="yellow"),
            "fail": click.style("✗", fg="red"),
        }
        for check in checks:
            click.echo(f"{marks[check.status]} {check.name}: {check.detail}")
            if check.fix:
                click.echo(f"    fix: {check.fix}")
        failed = sum(1 for c in checks if c.status == "fail")
        warned = sum(1 for c in checks if c.status == "warn")
        click.echo(f"{len(checks)} checks: {failed} failed, {warned} warnings")
        if failed:
            sys.exit(1)

    @cli.group("dashboard")
    def dashboard() -> None:
        """Dashboard users."""

    @dashboard.command("add-user")
    @click.argument("email")
    @click.password_option(help="The password (asked for when not given).")
    @click.option("--language", type=click.Choice([*LANGUAGES, ""]), default="", help="UI language of this user.")
    @workspace_option
    @click.option(
        "--role",
        type=click.Choice(["owner", "agent"]),
        default="owner",
        show_default=True,
        help="owner: everything in the workspace; agent: the contacts only.",
    )
    @click.pass_obj
    def add_user(state: Any, email: str, password: str, language: str, workspace: str | None, role: str) -> None:
        """Create a dashboard user who logs in with EMAIL, in a workspace, with a role."""
        from connector.dashboard.users import create_user

        create_user(state.runtime, email, password, language=language, workspace=workspace, role=role)
        click.echo(f"created dashboard user {email.strip().lower()} ({role})")

    @dashboard.command("set-role")
    @click.argument("email")
    @click.argument("role", type=click.Choice(["owner", "agent"]))
    @click.pass_obj
    def set_role(state: Any, email: str, role: str) -> None:
        """Give the dashboard user EMAIL the role ROLE (their sessions end)."""
        from connector.dashboard.users import set_role as change

        if not change(state.runtime, email, role):
            raise click.UsageError(f"no dashboard user {email}")
        click.echo(f"{email.strip().lower()} is now {role}; their sessions ended")

    @dashboard.command("set-password")
    @click.argument("email")
    @click.password_option()
    @click.pass_obj
    def set_password(state: Any, email: str, password: str) -> None:
        """Give the dashboard user EMAIL a new password (their open sessions end)."""
        from connector.dashboard.users import set_password as change

        if not change(state.runtime, email, password):
            raise click.UsageError(f"no dashboard user {email}")
        click.echo("password changed; the user's sessions ended")

    @dashboard.command("setup-link")
    @click.pass_obj
    def setup_link_command(state: Any) -> None:
        """Print a new one-time link to create the first dashboard user (older links stop working)."""
        from connector.dashboard import setup_link
        from connector.dashboard.users import count_users

        if count_users(state.runtime):
            raise click.UsageError("a dashboard user exists already; use `connector dashboard add-user`")
        click.echo(setup_link.link(state.runtime, setup_link.new_token(state.runtime)))

    def _user_command(name: str, done: str, change: Callable[[Any, str], bool]) -> None:
        @dashboard.command(name)
        @click.argument("email")
        @click.pass_obj
        def command(state: Any, email: str) -> None:
            if not change(state.runtime, email):
                raise click.UsageError(f"no dashboard user {email}")
            click.echo(done)

        command.help = change.__doc__

    def deactivate(rt: Any, email: str) -> bool:
        """Refuse the dashboard user EMAIL's logins and end their sessions."""
        from connector.dashboard.users import set_active

        return set_active(rt, email, False)

    def activate(rt: Any, email: str) -> bool:
        """Let the deactivated dashboard user EMAIL log in again."""
        from connector.dashboard.users import set_active

        return set_active(rt, email, True)

    def end_sessions(rt: Any, email: str) -> bool:
        """Log the dashboard user EMAIL out everywhere (every browser's session ends)."""
        from connector.dashboard.users import end_sessions as end

        return end(rt, email=email)

    _user_command("deactivate", "user deactivated; their sessions ended", deactivate)
    _user_command("activate", "user activated", activate)
    _user_command("end-sessions", "every session of the user ended", end_sessions)
