"""Plugins load through entry points, built-in and third-party alike, and their hooks run."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pluggy
import pytest

from connector import hookimpl
from connector.plugins import Plugins
from connector.runtime import Runtime


def test_built_ins_are_entry_points_of_their_own_distributions() -> None:
    """Each built-in plugin is a distribution of its own (plugins/<name>/pyproject.toml), as a third-party one is."""
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="connector")}
    for name in ("shopify", "woocommerce", "shopware", "meta", "whatsapp", "messenger"):
        assert eps[name].dist.name == f"chatshop-connector-{name}"
    assert not importlib.metadata.distribution("chatshop-connector").entry_points.select(group="connector")


def test_adapters_and_sandboxes_are_registered() -> None:
    plugins = Plugins()
    assert {"shopify", "woocommerce", "shopware"} <= set(plugins.shop_adapters)
    assert {"whatsapp", "messenger", "instagram"} <= set(plugins.channel_adapters)
    sandboxes = plugins.sandboxes()
    assert {"shopify", "woocommerce", "shopware", "graph"} <= set(sandboxes)
    for name in ("shopify", "woocommerce", "shopware"):
        assert sandboxes[name].kind == "shop"


def test_example_greeter_is_a_separate_distribution_loaded_through_its_entry_point(runtime: Runtime, client) -> None:
    """plugins/example-greeter is installed with pip (CI does it) and found like any third-party plugin."""
    [ep] = [ep for ep in importlib.metadata.entry_points(group="connector") if ep.name == "greeter"]
    assert ep.dist.name == "chatshop-example-greeter"
    info = {i.name: i for i in Plugins().describe()}["greeter"]
    assert info.source == "pip"
    # Its hooks run: a web route, a CLI command and a validated setting.
    assert client.get("/greeter/hello/Ada").get_json()["message"] == "Hello, Ada!"
    out = subprocess.run(
        [sys.executable, "-m", "connector", "greet", "Ada"], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "Hello, Ada! (from the greeter plugin)"
    assert runtime.plugin_settings["greeter"] == {"greeting": "Hello"}


def test_a_misspelled_hook_fails_at_registration() -> None:
    class Typo:
        @hookimpl
        def connector_register_shop_adaptrs(self) -> list:
            return []

    plugins = Plugins(load_entry_points=False)
    with pytest.raises(pluggy.PluginValidationError):
        plugins.register(Typo(), name="typo")


def test_two_adapters_with_one_name_are_refused() -> None:
    from connector.errors import ConfigError

    plugins = Plugins()
    clash = plugins.shop_adapters["woocommerce"]

    class Again:
        @hookimpl
        def connector_register_shop_adapters(self) -> list:
            return [type("Copy", (clash,), {})]

    plugins.register(Again(), name="again")
    with pytest.raises(ConfigError, match="woocommerce"):
        _ = plugins.shop_adapters
