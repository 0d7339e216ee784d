"""The ``connector`` command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def connector(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_every_command_has_help() -> None:
    top = connector("--help")
    assert top.returncode == 0
    for command in (
        "init",
        "serve",
        "demo",
        "db",
        "plugins",
        "connections",
        "sync",
        "send-test",
        "catalog",
        "runs",
        "sandbox",
    ):
        assert command in top.stdout
        assert connector(command, "--help").returncode == 0
    for sub in ("add", "set", "list", "test", "fields"):
        assert connector("connections", sub, "--help").returncode == 0
    assert connector("db", "upgrade", "--help").returncode == 0


def test_plugins_json_lists_every_built_in_plugin() -> None:
    result = connector("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    for name in ("shopify", "woocommerce", "shopware", "whatsapp", "messenger", "meta"):
        assert plugins[name]["source"] == "built-in"
        assert plugins[name]["distribution"] == f"chatshop-connector-{name}"
    assert set(plugins["messenger"]["adapters"]) == {"messenger", "instagram"}


def test_init_creates_config_database_and_token_then_connections_work(tmp_path: Path) -> None:
    result = connector("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cs_" in result.stdout
    assert (tmp_path / "connector.toml").stat().st_mode & 0o077 == 0  # secrets: owner only
    assert connector("init", cwd=tmp_path).returncode != 0  # never overwrites silently
    current = connector("db", "current", cwd=tmp_path)
    assert "up to date" in current.stdout

    bad = connector("connections", "add", "shop", "woocommerce", "--set", "shop_url=ftp://x", cwd=tmp_path)
    assert bad.returncode == 1
    assert "shop_url" in bad.stderr or "shop_url" in bad.stdout
    assert json.loads(connector("connections", "list", "--json", cwd=tmp_path).stdout) == []

    # A connection's settings change in place (a rotated token): the rest and its id stay, bad values are refused.
    made = connector(
        "connections", "add", "shop", "woocommerce", "--no-test", "--set", "shop_url=https://shop.example",
        "--set", "consumer_key=ck_old", "--set", "consumer_secret=cs_old", "--set", "webhook_secret=w", cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    changed = connector("connections", "set", "shop", "1", "--no-test", "--set", "consumer_key=ck_new", cwd=tmp_path)
    assert changed.returncode == 0 and "updated shop connection 1" in changed.stdout, changed.stderr
    bad = connector("connections", "set", "shop", "1", "--no-test", "--set", "shop_url=ftp://x", cwd=tmp_path)
    assert bad.returncode == 1 and "shop_url" in bad.stdout + bad.stderr
    assert connector("connections", "set", "shop", "9", "--set", "consumer_key=x", cwd=tmp_path).returncode == 2
    [shop] = json.loads(connector("connections", "list", "--json", cwd=tmp_path).stdout)
    assert shop["id"] == 1


def test_invalid_config_fails_at_start_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "connector.toml").write_text("[worker]\nthreads = -1\n")
    result = connector("connections", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "worker.threads" in result.stderr


def test_disabled_plugin_is_not_loaded(tmp_path: Path) -> None:
    result = connector("plugins", "--json", env={"CONNECTOR_PLUGINS__DISABLED": "shopware"})
    names = {p["name"] for p in json.loads(result.stdout)}
    assert "shopware" not in names and "shopify" in names


@pytest.mark.slow
def test_demo_once_syncs_the_sandbox_catalog_and_checks_it(tmp_path: Path) -> None:
    result = connector("demo", "--once", cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["match"] is True
    assert report["shop_variants"] == report["catalog_items"] >= 100
    assert report["seconds"] < 60


def test_rotate_keys_re_encrypts_secrets_so_the_old_key_can_go(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    from connector.config import load_config
    from connector.runtime import Runtime

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    (tmp_path / "connector.toml").write_text(f'[security]\nencryption_keys = ["{old}"]\n')
    assert connector("db", "upgrade", cwd=tmp_path).returncode == 0
    rt = Runtime(load_config(tmp_path / "connector.toml"))
    row = rt.connections.create_shop(
        name="s",
        platform="woocommerce",
        settings={
            "shop_url": "https://shop.example",
            "consumer_key": "ck_1",
            "consumer_secret": "cs_1",
            "webhook_secret": "w",
        },
    )
    assert b"cs_1" not in (tmp_path / "connector.db").read_bytes()  # encrypted at rest
    rt.close()
    env = {"CONNECTOR_SECURITY__ENCRYPTION_KEYS": f"{new},{old}"}
    result = connector("rotate-keys", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    only_new = load_config(tmp_path / "connector.toml", overrides={"security": {"encryption_keys": [new]}})
    rt = Runtime(only_new)
    assert rt.connections.settings_of(rt.connections.get_shop(row.id))["consumer_secret"] == "cs_1"
    rt.close()
