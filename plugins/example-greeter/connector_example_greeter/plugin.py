"""The greeter plugin: one setting, one CLI command, one web route, one event listener.

Install it next to the connector with ``pip install ./plugins/example-greeter``; ``connector plugins``
then lists it with source ``pip``.
"""

from __future__ import annotations

from collections import Counter

import click
from flask import Blueprint, Flask, current_app, jsonify

from connector import hookimpl
from connector.adapters import ConfigField

#: Inbound messages seen per channel connection, to show an event hook at work.
seen: Counter[int] = Counter()


@hookimpl
def connector_config_fields() -> list[ConfigField]:
    """The greeting is configurable in ``[plugins.greeter]``."""
    return [ConfigField("greeting", "Greeting", default="Hello", required=False, help="How the greeter says hello")]


def _greeting() -> str:
    runtime = current_app.extensions["connector"]
    return runtime.plugin_config("greeter").get("greeting", "Hello")


@hookimpl
def connector_register_blueprints(app: Flask) -> list[Blueprint]:
    """``GET /greeter/hello/<name>`` answers with the configured greeting."""
    bp = Blueprint("greeter", __name__, url_prefix="/greeter")

    @bp.get("/hello/<name>")
    def hello(name: str):
        return jsonify({"message": f"{_greeting()}, {name}!", "inbound_seen": sum(seen.values())})

    return [bp]


@hookimpl
def connector_register_cli(cli: click.Group) -> None:
    """``connector greet NAME`` prints a greeting."""

    @cli.command("greet")
    @click.argument("name")
    def greet(name: str) -> None:
        """Print a greeting (from the example greeter plugin)."""
        click.echo(f"Hello, {name}! (from the greeter plugin)")


@hookimpl
def connector_inbound_message(channel_connection_id: int, message: object) -> None:
    """Count inbound messages per channel connection."""
    seen[channel_connection_id] += 1
