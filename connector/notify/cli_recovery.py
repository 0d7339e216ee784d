"""``connector recovery list | settings show``: abandoned checkouts and the rules their reminders follow."""

from __future__ import annotations

import json
from typing import Any

import click

from connector.cli_workspaces import workspace_id_of, workspace_option

STATES = ("waiting", "reminded", "recovered", "paid", "skipped")


def connector_register_cli(cli: click.Group) -> None:
    """Add ``connector recovery``."""

    @cli.group("recovery")
    def recovery() -> None:
        """Abandoned-checkout recovery: checkouts left unpaid, their reminders, the revenue recovered."""

    @recovery.command("list")
    @click.option(
        "--state", "state_filter", type=click.Choice(STATES), default=None, help="Only checkouts in this state."
    )
    @click.option("--shop", "shop_id", type=int, default=None, help="Only this shop connection's checkouts.")
    @click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    @workspace_option
    @click.pass_obj
    def list_command(
        state: Any, state_filter: str | None, shop_id: int | None, limit: int, as_json: bool, workspace: str | None
    ) -> None:
        """List checkouts, newest first: id, shop, source, customer, total, state (with the reason), reminders,
        recovered revenue; and the totals per state."""
        from rich.console import Console
        from rich.table import Table
        from sqlalchemy import select

        from connector.db.models import ShopConnection
        from connector.db.models_notify import RecoveryCheckout
        from connector.notify.recovery_api import checkouts, summary

        rt = state.runtime
        workspace_id = workspace_id_of(rt, workspace)
        visible = (
            RecoveryCheckout.shop_connection_id.in_(
                select(ShopConnection.id).where(ShopConnection.workspace_id == workspace_id)
            )
            if workspace_id is not None
            else None
        )
        with rt.db.session() as session:
            items = checkouts(session, visible=visible, state=state_filter, shop_connection_id=shop_id, limit=limit)
            totals = summary(session, visible=visible)
        if as_json:
            click.echo(json.dumps({"items": items, "summary": totals}, indent=2))
            return
        table = Table("id", "shop", "source", "checkout", "customer", "total", "state", "reminders", "recovered")
        for item in items:
            shown = item["state"] + (f": {item['reason']}" if item["reason"] else "")
            recovered = f"{item['recovered_revenue']:.2f} {item['currency']}" if item["recovered_revenue"] else ""
            table.add_row(
                str(item["id"]),
                str(item["shop_connection_id"]),
                item["source"],
                item["name"] or item["external_id"],
                item["customer"] or "",
                f"{item['total']} {item['currency']}",
                shown,
                str(item["reminders_sent"]),
                recovered,
            )
        console = Console(width=200)
        console.print(table)
        revenue = ", ".join(f"{amount:.2f} {currency}" for currency, amount in totals["recovered_revenue"].items())
        states = ", ".join(f"{name} {count}" for name, count in totals["states"].items())
        console.print(f"{states}; recovered revenue: {revenue or '0'}")

    @recovery.group("settings")
    def settings_group() -> None:
        """The rules recovery follows (``[notify] recovery_*``, quiet hours, the frequency cap)."""

    @settings_group.command("show")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
    @click.pass_obj
    def settings_show(state: Any, as_json: bool) -> None:
        """Show the recovery settings in force."""
        from connector.notify.recovery_api import settings_json

        shown = settings_json(state.runtime.config.notify)
        if as_json:
            click.echo(json.dumps(shown, indent=2))
            return
        cap = shown["frequency_cap"]
        quiet = shown["quiet_hours"]
        lines = [
            f"enabled: {'yes' if shown['enabled'] else 'no'}",
            f"first reminder: {shown['delay_minutes']:g} minutes after the checkout's last change",
            f"reminders: {shown['reminders']}, {shown['spacing_hours']:g} hours apart",
            f"recovered: paid within {shown['attribution_days']:g} days after a reminder",
            f"quiet hours: {quiet['start']}-{quiet['end']} the customer's time (shop: {shown['shop_time_zone']})",
            f"frequency cap: {cap['messages']} marketing messages per {cap['days']:g} days",
            "templates: "
            + (
                ", ".join(f"{lang}={name}" for lang, name in shown["templates"].items())
                or "none (only inside the window)"
            ),
        ]
        click.echo("\n".join(lines))
