"""The README's "Running it for a real shop" commands, run in order against the sandboxes: at the end a stock change
in the sandbox shop reaches the sandbox catalog through the webhooks those commands registered."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = [sys.executable, "-m", "connector"]
#: Settings of a sandbox that point the connection at it (the real platforms are each plugin's default).
SANDBOX_ONLY = ("graph_url",)


def readme_commands() -> list[tuple[list[str], bool]]:
    """The ``connector`` commands of the README's real-shop block, as argv lists, with whether they run in the
    background (a trailing ``&``)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Running it for a real shop") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the real-shop section has no sh block"
    commands = []
    for line in block.group(1).replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0] == "scripts/setup":
            continue
        assert words[0] == ".venv/bin/connector", f"not a connector command: {line}"
        background = words[-1] == "&"
        commands.append((words[1:-1] if background else words[1:], background))
    return commands


def substitute(args: list[str], settings: dict[str, Any]) -> list[str]:
    """Every ``--set KEY=...`` gets the sandbox's value of KEY (a KEY the sandbox lacks fails the test)."""
    out = list(args)
    for i, word in enumerate(out):
        if i and out[i - 1] == "--set":
            key = word.partition("=")[0]
            assert key in settings, f"README sets {key!r}, which the sandbox does not offer: {sorted(settings)}"
            out[i] = f"{key}={settings[key]}"
    if args[:2] == ["connections", "add"]:
        out += [x for key in SANDBOX_ONLY if key in settings for x in ("--set", f"{key}={settings[key]}")]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sandboxes() -> Iterator[dict[str, dict[str, Any]]]:
    """``connector sandbox shopify --json`` and ``connector sandbox graph --json``, each in its own process."""
    procs, found = [], {}
    try:
        for name in ("shopify", "graph"):
            proc = subprocess.Popen([*CONNECTOR, "sandbox", name, "--json"], stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            assert proc.stdout is not None
            found[name] = json.loads(proc.stdout.readline())
        yield found
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


def wait_until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_readme_real_shop_commands_get_a_stock_change_into_the_catalog(
    tmp_path: Path, sandboxes: dict[str, dict[str, Any]]
) -> None:
    shop, graph = sandboxes["shopify"], sandboxes["graph"]
    port = free_port()
    env = {
        **os.environ,
        "CONNECTOR_SERVER__HOST": "127.0.0.1",
        "CONNECTOR_SERVER__PORT": str(port),
        "COLUMNS": "200",
    }
    env.pop("CONNECTOR_CONFIG", None)
    server = None
    try:
        for args, background in readme_commands():
            kind = args[2] if args[:2] == ["connections", "add"] else None
            settings = shop["settings"] if kind == "shop" else graph["settings"]
            argv = [*CONNECTOR, *substitute(args, settings)]
            if background:
                assert args[0] == "serve", "only the server runs in the background"
                server = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
                wait_until(lambda: _listening(port), 60, "connector serve to listen")
                continue
            result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, f"connector {' '.join(args)}: {result.stdout}{result.stderr}"

        control = f"{shop['url']}/_sandbox"
        variant = requests.get(f"{control}/variants", timeout=10).json()["ids"][0]
        requests.post(f"{control}/stock", json={"variant_id": variant, "quantity": 4242}, timeout=10).raise_for_status()
        catalog = f"{graph['url']}/_sandbox/catalogs/{graph['settings']['catalog_id']}/items"

        def changed() -> bool:
            items = requests.get(catalog, timeout=10).json()["items"]
            return any(item.get("inventory") == 4242 for item in items)

        wait_until(changed, 60, "the stock change to reach the catalog through the shop's webhook")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)


def _listening(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code < 500
    except requests.RequestException:
        return False
