"""The connector is a typed package: plugin authors' type checkers read its annotations, and CI type-checks it."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_connector_package_ships_a_py_typed_marker() -> None:
    # Without the marker, mypy treats an installed `connector` as untyped (every import is Any) in a plugin's repo.
    assert files("connector").joinpath("py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["connector"]  # so a built wheel carries it too


def test_ci_type_checks_the_connector_and_every_builtin_plugin_before_the_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("scripts/typecheck") < ci.index("scripts/test")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["plugins"] == ["pydantic.mypy"]
    # the script names every plugin package by its import name (connector_<name>), whatever its folder layout
    assert 'entry_points(group="connector")' in (ROOT / "scripts" / "typecheck").read_text()
