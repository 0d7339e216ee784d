"""Setting up from the CLI alone, a fast ``--help``, and operator mistakes as one sentence (real processes)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.test_cli import connector

WIDE = {"COLUMNS": "200"}  # rich would wrap the one sentence at 80 columns
KEYED = {**WIDE, "CONNECTOR_SECURITY__ENCRYPTION_KEYS": Fernet.generate_key().decode()}
#: A WooCommerce connection whose shop refuses connections: its test fails.
UNREACHABLE_SHOP = (
    "--set", "shop_url=https://127.0.0.1:1", "--set", "consumer_key=ck_1",
    "--set", "consumer_secret=cs_1", "--set", "webhook_secret=w",
)  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    assert connector("init", cwd=tmp_path).returncode == 0
    return tmp_path


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The error output, checked to be one line without a traceback and with a non-zero exit status."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_help_imports_neither_the_orm_nor_the_plugins() -> None:
    code = (
        "import sys\nsys.argv = ['connector', '--help']\nfrom connector.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'flask', 'rich', 'pydantic', 'alembic') or m.startswith('connector_'))\n"
        "print(heavy, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "webhooks" in result.stdout and "doctor" in result.stdout  # core plugins' commands are still listed
    assert result.stderr.strip() == "[]"


def test_shell_completion_completes_commands() -> None:
    env = {"_CONNECTOR_COMPLETE": "bash_complete", "COMP_WORDS": "connector webh", "COMP_CWORD": "1"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "connector")],
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "webhooks" in result.stdout


def test_connections_add_refuses_a_failing_connection_unless_disabled(workdir: Path) -> None:
    refused = connector("connections", "add", "shop", "woocommerce", *UNREACHABLE_SHOP, cwd=workdir, env=WIDE)
    assert refused.returncode == 1
    assert "not saved" in refused.stderr
    assert json.loads(connector("connections", "list", "--json", cwd=workdir).stdout) == []

    kept = connector("connections", "add", "shop", "woocommerce", "--disabled", *UNREACHABLE_SHOP, cwd=workdir)
    assert kept.returncode == 0, kept.stderr
    [row] = json.loads(connector("connections", "list", "--json", cwd=workdir).stdout)
    assert row["enabled"] is False
    # Enabling tests first: the shop is still unreachable, so it stays disabled.
    assert connector("connections", "enable", "shop", str(row["id"]), cwd=workdir).returncode == 1
    assert json.loads(connector("connections", "list", "--json", cwd=workdir).stdout)[0]["enabled"] is False
    assert connector("connections", "enable", "shop", str(row["id"]), "--no-test", cwd=workdir).returncode == 0
    assert json.loads(connector("connections", "list", "--json", cwd=workdir).stdout)[0]["enabled"] is True
    assert connector("connections", "disable", "shop", str(row["id"]), cwd=workdir).returncode == 0
    assert json.loads(connector("connections", "list", "--json", cwd=workdir).stdout)[0]["enabled"] is False
    assert connector("connections", "delete", "shop", "99", "--yes", cwd=workdir).returncode == 2
    assert connector("connections", "delete", "shop", str(row["id"]), "--yes", cwd=workdir).returncode == 0
    assert json.loads(connector("connections", "list", "--json", cwd=workdir).stdout) == []


def test_webhooks_list_shows_what_to_register(workdir: Path) -> None:
    added = connector("connections", "add", "shop", "woocommerce", "--disabled", *UNREACHABLE_SHOP, cwd=workdir)
    assert added.returncode == 0, added.stderr
    info = json.loads(connector("webhooks", "list", "shop", "1", "--json", cwd=workdir).stdout)
    assert info["url"].endswith("/webhooks/woocommerce/1")
    assert info["topics"] and info["received_7d"] == 0
    # The shop is unreachable: registering fails with the platform's reason, exit 1.
    failed = connector("webhooks", "register", "shop", "1", cwd=workdir, env=WIDE)
    assert failed.returncode == 1 and "could not register webhooks" in failed.stderr
    assert connector("webhooks", "list", "shop", "7", cwd=workdir).returncode == 2


def test_doctor_points_at_cli_commands(workdir: Path) -> None:
    connector("connections", "add", "shop", "woocommerce", "--disabled", *UNREACHABLE_SHOP, cwd=workdir)
    result = connector("doctor", cwd=workdir, env=WIDE)
    assert "connector webhooks register shop 1" in result.stdout
    assert "connector connections set shop 1" in result.stdout


def test_busy_port_is_one_sentence(workdir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = connector("serve", "--host", "127.0.0.1", "--port", str(port), cwd=workdir, env=WIDE)
    assert "port is already in use" in one_sentence(result)
    assert result.returncode == 3


def test_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens once the socket closes
    env = {**KEYED, "CONNECTOR_DATABASE__URL": f"postgresql+psycopg://connector@127.0.0.1:{port}/connector"}
    result = connector("db", "upgrade", cwd=tmp_path, env=env)
    assert "Cannot reach the database" in one_sentence(result)
    assert result.returncode == 3


def test_unwritable_data_directory_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    env = {**KEYED, "CONNECTOR_DATABASE__URL": f"sqlite:///{tmp_path}/data/connector.db"}
    assert "Cannot write the database" in one_sentence(connector("db", "upgrade", cwd=tmp_path, env=env))
    result = connector("init", "--path", str(tmp_path / "data" / "connector.toml"), cwd=tmp_path, env=WIDE)
    assert "data/connector.toml" in one_sentence(result)
    assert result.returncode == 3


def test_missing_encryption_key_is_one_sentence(tmp_path: Path) -> None:
    result = connector("connections", "list", cwd=tmp_path, env=WIDE)  # built-in defaults: no encryption key
    assert "encryption_keys" in one_sentence(result)
    assert result.returncode == 2


def test_unknown_environment_variable_is_warned_about_with_the_closest_name(workdir: Path) -> None:
    result = connector("connections", "list", cwd=workdir, env={"CONNECTOR_DATABSE__URL": "sqlite:///x.db"})
    assert result.returncode == 0
    assert "CONNECTOR_DATABSE__URL" in result.stderr and "did you mean CONNECTOR_DATABASE__URL" in result.stderr
