"""The hook specifications are the plugin API: each must be documented, typed, and actually called by the core."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from connector import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = hookspecs.all_hook_names()


def test_there_are_hooks_for_every_extension_point() -> None:
    wanted = {
        "connector_register_shop_adapters",
        "connector_register_channel_adapters",
        "connector_config_fields",
        "connector_verify_webhook",
        "connector_parse_webhook",
        "connector_register_blueprints",
        "connector_register_cli",
        "connector_register_jobs",
        "connector_catalog_changed",
        "connector_stock_changed",
        "connector_order_status_changed",
        "connector_inbound_message",
        "connector_notification_sent",
    }
    assert wanted <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_docstring_saying_how_results_combine(name: str) -> None:
    func = getattr(hookspecs, name)
    doc = inspect.getdoc(func) or ""
    assert len(doc) > 80, f"{name} needs a real docstring"
    assert re.search(r"first non-``None`` result|combine|every\s+implementation|called\s+once", doc, re.IGNORECASE), (
        f"{name}'s docstring must say how results combine"
    )


@pytest.mark.parametrize("name", HOOKS)
def test_hook_arguments_and_return_are_typed(name: str) -> None:
    signature = inspect.signature(getattr(hookspecs, name))
    for param in signature.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name}) has no type"
    assert signature.return_annotation is not inspect.Signature.empty, f"{name} has no return type"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_in_plugin_guide(name: str) -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### `{name}`" in guide, f"docs/plugins.md has no section for {name}"
    section = guide.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
    assert "```python" in section, f"docs/plugins.md has no example for {name}"
    for param in inspect.signature(getattr(hookspecs, name)).parameters:
        assert f"`{param}`" in section, f"docs/plugins.md does not describe {name}'s argument {param}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_called_by_the_core(name: str) -> None:
    """The core calls every hook through pluggy (``pm.hook.<name>``); a hook nobody calls is a lie in the API."""
    sources = [p for p in (ROOT / "connector").rglob("*.py") if p.name != "hookspecs.py"]
    call = re.compile(rf"hook\.{name}\(|subset_hook_caller\(\s*\"{name}\"")
    calls = [p for p in sources if call.search(p.read_text())]
    assert calls, f"no module in connector/ calls hook {name}"
