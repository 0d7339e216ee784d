"""Configuration: TOML plus CONNECTOR_ environment overrides; bad values fail at start-up naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector.config import load_config
from connector.errors import ConfigError
from connector.plugins import Plugins
from connector.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


def test_documented_default_config_is_the_one_init_writes_and_it_loads() -> None:
    shipped = (ROOT / "config" / "connector.toml").read_text()
    assert shipped == (ROOT / "connector" / "default_config.toml").read_text()
    config = load_config(ROOT / "config" / "connector.toml")
    assert config.sync.delta_interval_minutes == 60
    assert config.sync.full_sync_at == "03:00"
    assert config.worker.backend == "embedded"


def test_example_configs_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SECURITY__ENCRYPTION_KEYS", Fernet.generate_key().decode())
    examples = sorted((ROOT / "config" / "examples").glob("*.toml"))
    assert examples, "config/examples/ must hold example configs"
    for example in examples:
        load_config(example)


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[worker]\nthreads = 0\n[sync]\nfull_sync_at = "25:00"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "worker.threads" in str(info.value)
    assert "sync.full_sync_at" in str(info.value)


def test_a_heartbeat_slower_than_half_the_lease_is_refused_with_the_reason(tmp_path: Path) -> None:
    """One late heartbeat must never cost a live worker its tasks (issue 15): the heartbeat fits twice in the lease."""
    path = tmp_path / "c.toml"
    path.write_text("[worker]\nlease_seconds = 10\nheartbeat_seconds = 6\n")
    with pytest.raises(ConfigError, match=r"heartbeat_seconds \(6\) must be at most half of lease_seconds \(10\)"):
        load_config(path)


def test_unknown_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[database]\nurll = 'sqlite:///x.db'\n")
    with pytest.raises(ConfigError, match=r"database\.urll"):
        load_config(path)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[worker]\nthreads = 2\n")
    monkeypatch.setenv("CONNECTOR_WORKER__THREADS", "7")
    monkeypatch.setenv("CONNECTOR_PLUGINS__DISABLED", "shopify,shopware")
    config = load_config(path)
    assert config.worker.threads == 7
    assert config.plugins.disabled == ["shopify", "shopware"]


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[database]\nurl = 'sqlite:///data/connector.db'\n")
    assert load_config(path).database.url == f"sqlite:///{tmp_path / 'data' / 'connector.db'}"


def test_bad_encryption_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SECURITY__ENCRYPTION_KEYS", "not-a-key-SECRET123")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "security.encryption_keys" in str(info.value)
    assert "SECRET123" not in str(info.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_plugin_settings_are_validated_at_start_up(tmp_path: Path, plugins: Plugins) -> None:
    key = Fernet.generate_key().decode()
    good = load_config(
        overrides={
            "database": {"url": f"sqlite:///{tmp_path}/a.db"},
            "security": {"encryption_keys": [key]},
            "plugins": {"greeter": {"greeting": "Moin"}},
        }
    )
    assert Runtime(good, plugins=plugins).plugin_settings["greeter"] == {"greeting": "Moin"}
    bad = load_config(
        overrides={
            "database": {"url": f"sqlite:///{tmp_path}/b.db"},
            "security": {"encryption_keys": [key]},
            "plugins": {"greeter": {"greting": "typo"}},
        }
    )
    with pytest.raises(ConfigError, match=r"plugins\.greeter\.greting"):
        Runtime(bad, plugins=plugins)


def test_runtime_without_encryption_key_says_how_to_fix(tmp_path: Path, plugins: Plugins) -> None:
    config = load_config(overrides={"database": {"url": f"sqlite:///{tmp_path}/a.db"}})
    with pytest.raises(ConfigError, match="connector init"):
        Runtime(config, plugins=plugins)
