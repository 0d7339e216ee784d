"""Setting names in the docs are the plugins' declared settings: every ``--set KEY=`` of a ``connector connections
add|set`` command in README.md and docs/ names a field the plugin declares."""

from __future__ import annotations

import re
from pathlib import Path

from connector.plugins import Plugins

ROOT = Path(__file__).resolve().parent.parent
COMMAND = re.compile(r"connections (add|set) (shop|channel) (\S+)([^\n`|]*)")


def documented_settings() -> list[tuple[str, str, str, str, str]]:
    """(file, add|set, kind, adapter or id, key) for each ``--set KEY=`` in the docs."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = path.read_text().replace("\\\n", " ")
        for verb, kind, target, rest in COMMAND.findall(text):
            for key in re.findall(r"--set ([A-Za-z_][\w.]*)=", rest):
                found.append((str(path.relative_to(ROOT)), verb, kind, target, key))
    return found


def test_every_documented_setting_is_declared_by_its_plugin() -> None:
    plugins = Plugins()
    adapters = {"shop": plugins.shop_adapters, "channel": plugins.channel_adapters}
    found = documented_settings()
    assert any(f[0] == "README.md" for f in found), "the README's connection commands were not found"
    wrong = []
    for file, verb, kind, target, key in found:
        if verb == "add":
            assert target in adapters[kind], f"{file}: no {kind} plugin {target!r}"
            declared = {f.name for f in adapters[kind][target].config_fields}
        else:  # `set KIND ID`: the adapter is not named, so any plugin of that kind may declare it
            declared = {f.name for cls in adapters[kind].values() for f in cls.config_fields}
        if key not in declared:
            wrong.append(
                f"{file}: `connections {verb} {kind} {target} --set {key}=` ({kind} declares {sorted(declared)})"
            )
    assert not wrong, "\n".join(wrong)


def test_the_readme_sets_every_required_setting() -> None:
    plugins = Plugins()
    adapters = {"shop": plugins.shop_adapters, "channel": plugins.channel_adapters}
    readme = [f for f in documented_settings() if f[0] == "README.md" and f[1] == "add"]
    for kind, target in {(f[2], f[3]) for f in readme}:
        given = {f[4] for f in readme if f[2] == kind and f[3] == target}
        required = {f.name for f in adapters[kind][target].config_fields if f.required}
        assert required <= given, f"README's `connections add {kind} {target}` lacks {sorted(required - given)}"
