"""deploy/ (Dockerfile, compose file, systemd units, gunicorn.conf.py) says only what the connector understands.

No container engine runs here, so this checks what can be checked without one: every ``connector ...``
command line parses with the connector's own CLI, every ``CONNECTOR_*`` variable is a setting of the
config model (and the compose file's settings load), the Dockerfile builds every distribution and installs
them with the command tests/test_install.py runs, and ``connector web`` applies gunicorn.conf.py and
``GUNICORN_CMD_ARGS`` in gunicorn's order.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel

from connector.cli import cli
from connector.cluster.gunicorn_app import ConnectorGunicorn, connector_defaults
from connector.config import ENV_CONFIG_PATH, Config, load_config
from connector.plugins import Plugins
from tests.wheels import (
    BUILT_IN_PLUGINS,
    DEPLOY,
    DISTRIBUTIONS,
    DOCKERFILE,
    IMAGE_VENV,
    IMAGE_WHEELS,
    ROOT,
    dockerfile_wheel_install,
    wheel_install_argv,
)

COMPOSE = DEPLOY / "compose.yaml"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
#: Where the image and the systemd units expect deploy/gunicorn.conf.py.
INSTALLED_GUNICORN_CONF = "/etc/connector/gunicorn.conf.py"


def _unit_commands(unit: Path) -> list[list[str]]:
    return [
        shlex.split(line.split("=", 1)[1])
        for line in unit.read_text().splitlines()
        if line.startswith(("ExecStart=", "ExecStartPre=", "ExecStop=", "ExecReload="))
    ]


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _dockerfile_cmd() -> list[str]:
    [cmd] = [line[len("CMD ") :] for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    return yaml.safe_load(cmd)


def _connector_command_lines() -> list[tuple[str, list[str]]]:
    """(where, argv) of every command line in deploy/ that runs the connector."""
    lines = [(unit.name, argv) for unit in UNITS for argv in _unit_commands(unit)]
    lines += [
        (f"compose {name}", spec["command"]) for name, spec in _compose()["services"].items() if "command" in spec
    ]
    lines.append(("Dockerfile CMD", _dockerfile_cmd()))
    return [(where, argv) for where, argv in lines if Path(argv[0]).name == "connector"]


def _parse(argv: list[str]) -> click.Context:
    """Parse ``argv`` (after ``connector``) down to its subcommand, converting every value; run nothing."""
    root = cli
    Plugins().register_cli(root)  # what main() does: plugins' commands (web, worker, scheduler, ...)
    command: click.Command = root
    ctx = command.make_context("connector", list(argv))
    while isinstance(command, click.Group):
        protected = getattr(ctx, "_protected_args", None) or ctx.protected_args  # click 8.2 renamed it
        rest = [*protected, *ctx.args]
        assert rest, f"{argv}: no subcommand of {ctx.command_path}"
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        command = sub
        ctx = command.make_context(name, list(args), parent=ctx)
    return ctx


def test_deploy_files_run_every_process_of_the_distributed_deployment() -> None:
    lines = [" ".join(argv[1:3]) for _, argv in _connector_command_lines()]
    for process in ("web", "worker", "scheduler", "db upgrade", "serve"):
        assert any(line.startswith(process) for line in lines), f"no deploy file runs `connector {process}`"
    compose = _compose()["services"]
    assert {"postgres", "redis", "rabbitmq"} <= set(compose)
    assert compose["worker-bulk"]["command"][1:] == ["worker", "--queues", "connector.bulk", "--nice", "10"]
    assert (DEPLOY / "systemd" / "connector-worker-bulk.service").exists()


def test_every_connector_command_line_parses_with_the_cli() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert f"COPY deploy/gunicorn.conf.py {INSTALLED_GUNICORN_CONF}\n" in dockerfile
    found = _connector_command_lines()
    assert len(found) >= 10
    for where, argv in found:
        if argv[0] != "connector":  # the systemd units run the Dockerfile's virtual environment's script
            assert argv[0] == f"{IMAGE_VENV}/bin/connector", where
        args = [str(GUNICORN_CONF) if arg == INSTALLED_GUNICORN_CONF else arg for arg in argv[1:]]
        try:
            ctx = _parse(args)
        except click.ClickException as exc:
            pytest.fail(f"{where}: `{shlex.join(argv)}` does not parse: {exc.format_message()}")
        assert ctx.command.callback is not None, where


def test_a_wrong_command_line_is_caught() -> None:
    """The check above would notice a typo: an unknown option, subcommand or bad value fails to parse."""
    for argv in (["worker", "--queue", "connector.bulk"], ["wrker"], ["worker", "--nice", "99"], ["db", "upgade"]):
        with pytest.raises(click.ClickException):
            _parse(argv)


def _setting_exists(name: str) -> bool:
    """Whether CONNECTOR_<SECTION>__<KEY>[__...] names a field of the config model."""
    model: type[BaseModel] = Config
    for part in name.removeprefix("CONNECTOR_").lower().split("__"):
        fields = dict(model.model_fields)
        fields.update({field.alias: field for field in model.model_fields.values() if field.alias})
        if part not in fields:
            return False
        annotation = fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return True
    return False


def test_every_connector_variable_in_deploy_files_is_a_setting() -> None:
    files = [DOCKERFILE, COMPOSE, GUNICORN_CONF, *UNITS]
    names = {name for file in files for name in re.findall(r"\bCONNECTOR_[A-Z0-9_]+", file.read_text())}
    assert "CONNECTOR_WORKER__BACKEND" in names
    unknown = sorted(n for n in names if n != ENV_CONFIG_PATH and not _setting_exists(n))
    assert not unknown, f"not settings of the config model: {unknown}"
    assert not _setting_exists("CONNECTOR_WORKER__BAKEND") and not _setting_exists("CONNECTOR_SERVER")


def _substitute(value: str) -> str:
    """Compose's ``${NAME:-default}`` with nothing set: the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_compose_environment_loads_as_a_distributed_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    service = _compose()["services"]["web"]
    for key in [k for k in os.environ if k.startswith("CONNECTOR_")]:
        monkeypatch.delenv(key)
    for key, value in service["environment"].items():
        monkeypatch.setenv(key, _substitute(str(value)))
    config = load_config()
    assert config.worker.backend == "celery"
    assert config.database.url == "postgresql+psycopg://connector:connector@postgres/connector"
    assert config.cluster.broker_url.startswith("amqp://connector:connector@rabbitmq:5672")
    assert config.cluster.redis_url == "redis://redis:6379/0"
    assert (config.server.host, config.server.port) == ("0.0.0.0", 8080)


def test_dockerfile_builds_every_distribution_and_installs_them_like_the_install_test(tmp_path: Path) -> None:
    dockerfile = DOCKERFILE.read_text()
    [loop] = re.findall(r"for dist in ([^;]+);", dockerfile)
    assert [ROOT / d for d in loop.split()] == list(DISTRIBUTIONS)
    shipped = {p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml")} - {"example-greeter"}
    assert shipped == set(BUILT_IN_PLUGINS), "a plugin distribution in plugins/ that the image does not build"
    # The image installs all the wheels by path, with the cluster extra; the install test runs the same argv.
    install = dockerfile_wheel_install()
    assert install == [f"{IMAGE_VENV}/bin/pip", "install", f"{IMAGE_WHEELS}/*.whl", "chatshop-connector[cluster]"]
    for name in ("chatshop_connector", *(f"chatshop_connector_{p}" for p in BUILT_IN_PLUGINS)):
        (tmp_path / f"{name}-0.1.0-py3-none-any.whl").touch()
    argv = wheel_install_argv(tmp_path / "venv", tmp_path)
    assert argv[:2] == [str(tmp_path / "venv" / "bin" / "pip"), "install"]
    assert argv[-1] == "chatshop-connector[cluster]"
    assert sorted(Path(a).name for a in argv[2:-1]) == sorted(p.name for p in tmp_path.glob("*.whl"))


def _gunicorn(config: Config, **kwargs: Any) -> Any:
    return ConnectorGunicorn(None, defaults=connector_defaults(config), **kwargs).cfg


def test_connector_web_applies_gunicorn_conf_then_gunicorn_cmd_args_then_its_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    config = load_config(overrides={"server": {"host": "0.0.0.0", "port": 8123}, "cluster": {"web_workers": 3}})
    plain = _gunicorn(config)
    assert (plain.bind, plain.workers, plain.worker_class_str) == (["0.0.0.0:8123"], 3, "gthread")
    assert plain.timeout == 30  # gunicorn's default

    # deploy/gunicorn.conf.py loads and its settings apply; the connector's address and processes stay.
    conf = _gunicorn(config, config_file=str(GUNICORN_CONF))
    assert (conf.timeout, conf.max_requests, conf.accesslog) == (60, 10000, "-")
    assert (conf.bind, conf.workers) == (["0.0.0.0:8123"], 3)

    # GUNICORN_CMD_ARGS overrides the file (and may name the file itself); connector web's options override both.
    monkeypatch.setenv("GUNICORN_CMD_ARGS", f"--config {GUNICORN_CONF} --timeout 90 --workers 5")
    env = _gunicorn(config)
    assert (env.timeout, env.workers, env.max_requests) == (90, 5, 10000)
    explicit = _gunicorn(config, overrides={"workers": 2, "bind": "127.0.0.1:9000", "threads": None})
    assert (explicit.workers, explicit.bind, explicit.timeout) == (2, ["127.0.0.1:9000"], 90)
    assert explicit.threads == config.cluster.web_threads
