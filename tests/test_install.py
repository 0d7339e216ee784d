"""Installed from its sdists and wheels, outside the source tree, the connector has everything it needs.

Issue #18: a wheel without the Alembic migrations or the Shopify sandbox's data installs fine and then
fails at ``connector init`` (``no such table: api_tokens``). These tests build every distribution (the core
and each built-in plugin) with ``python -m build`` (sdist, then the wheel from the sdist), list the archives,
install the wheels with the Dockerfile's own install command into a fresh virtual environment in a temporary
folder, and run the commands an operator runs first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.wheels import BUILT_IN_PLUGINS, DISTRIBUTIONS, wheel_install_argv

pytestmark = pytest.mark.slow

#: Files the program opens at run time, by distribution: (archive member suffix, what breaks without it).
NEEDED = {
    "chatshop_connector": [
        "connector/migrations/env.py",
        "connector/migrations/script.py.mako",
        "connector/migrations/versions/0001_initial_schema.py",
        "connector/default_config.toml",
        "connector/dashboard/static/dashboard.css",
        "connector/dashboard/static/htmx.min.js",
        # the compiled gettext catalogs and the texts they translate
        "connector/locales/de/LC_MESSAGES/messages.mo",
        "connector/locales/pt_BR/LC_MESSAGES/messages.mo",
        "connector/conversation/templates/chat/texts.j2",
        "connector/notify/templates/order_shipped/default.j2",
    ],
    "chatshop_connector_shopify": ["connector_shopify/sandbox/data/shopify-admin-2026-10.introspection.json.gz"],
}


def _clean_env(home: Path) -> dict[str, str]:
    """The environment of an operator's shell: no CONNECTOR_* settings, no source tree on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_COMPILE"] = "1"  # the image compiles; here it only costs time (Python compiles on import)
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))  # reuse scripts/setup's downloads
    env["HOME"] = str(home)
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdists and wheels of every distribution, built as the Dockerfile builds them (the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")

    def build(numbered: tuple[int, Path]) -> None:
        # --no-isolation: the project venv's setuptools builds, so this needs no index.
        number, source = numbered
        argv = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out / str(number)), str(source)]
        _run(argv, out, dict(os.environ))

    with ThreadPoolExecutor(max_workers=4) as pool:  # each build is a subprocess
        list(pool.map(build, enumerate(DISTRIBUTIONS)))
    for built in out.glob("*/*"):
        built.rename(out / built.name)
    return out


def _members(archive: Path) -> list[str]:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.namelist()
    with tarfile.open(archive) as tf:
        return tf.getnames()


def test_every_distribution_builds_an_sdist_and_a_wheel_holding_its_data_files(dist_dir: Path) -> None:
    wheels = {p.name.split("-")[0]: p for p in dist_dir.glob("*.whl")}
    sdists = {p.name.split("-")[0]: p for p in dist_dir.glob("*.tar.gz")}
    expected = {"chatshop_connector", *(f"chatshop_connector_{name}" for name in BUILT_IN_PLUGINS)}
    assert set(wheels) == expected
    assert set(sdists) == expected
    for dist, needed in NEEDED.items():
        for archive in (wheels[dist], sdists[dist]):
            members = _members(archive)
            for path in needed:
                assert any(m.endswith(path) for m in members), f"{archive.name} lacks {path}"
    # Every migration in the source tree ships, and each plugin's modules live in its own wheel only.
    core = _members(wheels["chatshop_connector"])
    for migration in (Path(__file__).parent.parent / "connector" / "migrations" / "versions").glob("*.py"):
        assert f"connector/migrations/versions/{migration.name}" in core
    assert not [m for m in core if m.startswith("connector_")]
    for name in BUILT_IN_PLUGINS:
        members = _members(wheels[f"chatshop_connector_{name}"])
        assert f"connector_{name}/plugin.py" in members
        assert all(m.startswith((f"connector_{name}/", f"chatshop_connector_{name}-")) for m in members)


def test_wheels_installed_outside_the_source_tree_init_migrate_and_run_the_demo(dist_dir: Path, tmp_path: Path) -> None:
    """The Dockerfile's install step, then what docs/operations.md tells an operator to run first."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for wheel in dist_dir.glob("*.whl"):
        (wheels / wheel.name).write_bytes(wheel.read_bytes())
    env = _clean_env(tmp_path)
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    _run(wheel_install_argv(target, wheels), tmp_path, env, timeout=600)
    connector = [str(target / "bin" / "connector")]

    # The code runs from the fresh environment, not from the source tree.
    where = _run(
        [str(target / "bin" / "python"), "-c", "import connector, connector_shopify; print(connector.__file__)"],
        tmp_path,
        env,
    )
    assert where.stdout.strip().startswith(str(target))

    version = _run([*connector, "--version"], tmp_path, env)
    assert "0.1.0" in version.stdout

    init = _run([*connector, "init", "--path", str(tmp_path / "connector.toml")], tmp_path, env)
    assert "Admin API token (shown once): " in init.stdout
    config = ["--config", str(tmp_path / "connector.toml")]
    upgraded = _run([*connector, *config, "db", "upgrade"], tmp_path, env)
    assert "database at revision " in upgraded.stdout and "None" not in upgraded.stdout
    current = _run([*connector, *config, "db", "current"], tmp_path, env)
    assert "(up to date)" in current.stdout

    listed = json.loads(_run([*connector, *config, "plugins", "--json"], tmp_path, env).stdout)
    built_in = {p["name"]: p for p in listed if p["source"] == "built-in"}
    assert set(BUILT_IN_PLUGINS) <= set(built_in)
    for name in BUILT_IN_PLUGINS:
        assert built_in[name]["distribution"] == f"chatshop-connector-{name}"

    # The Shopify sandbox needs its schema file from the plugin's wheel.
    demo = _run(
        [*connector, "demo", "--once", "--shop", "shopify", "--data-dir", str(tmp_path / "demo")], tmp_path, env
    )
    report = json.loads(demo.stdout.strip().splitlines()[-1])
    assert report["match"] is True and report["sync"] == "succeeded", report
