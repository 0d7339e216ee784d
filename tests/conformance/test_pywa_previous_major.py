"""The Graph sandbox as pywa's previous major (3.x) sees it.

pywa 3 cannot share the project's virtualenv with pywa 4, so a throwaway virtualenv with ``pywa>=3.9,<4`` is built
once (cached per requirement, reusing pip's cache) and ``pywa3_driver.py`` runs in it: it sends through pywa 3's own
API and feeds pywa 3's webhook handler the deliveries the sandbox made. The test asserts what the customer got and
what a pywa 3 bot's handlers received.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_meta.sandbox import GraphSandbox
from facebook_business.adobjects.productcatalog import ProductCatalog
from flask import Flask, request

from tests.conformance.conftest import CUSTOMER, PRODUCTS, wait_until
from tests.conftest import IN_CI

pytestmark = pytest.mark.slow

REQUIREMENT = "pywa>=3.9,<4"
DRIVER = Path(__file__).with_name("pywa3_driver.py")


def _venv_root() -> Path:
    """Where throwaway client venvs are kept between runs, keyed by requirement (``PYWA3_VENV_CACHE`` overrides)."""
    base = os.environ.get("PYWA3_VENV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "chatshop-connector", "client-venvs"
    )
    return Path(base)


@pytest.fixture(scope="session")
def pywa3_python() -> Path:
    """The interpreter of a virtualenv holding pywa 3.x, created on first use (venv + one pip install)."""
    key = hashlib.sha256(f"{REQUIREMENT} {sys.version_info[:2]}".encode()).hexdigest()[:12]
    target = _venv_root() / f"pywa3-{key}"
    python = target / "bin" / "python"
    if (target / "ready").exists():
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="pywa3-", dir=target.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, capture_output=True)
        install = subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "-q", REQUIREMENT],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if install.returncode != 0:
            problem = f"cannot install {REQUIREMENT} from PyPI: {install.stderr.strip()[-800:]}"
            if IN_CI:
                pytest.fail(problem)
            pytest.skip(problem)
        (building / "ready").write_text(REQUIREMENT)
        with contextlib.suppress(OSError):  # atomic: a concurrent run that won the race keeps its copy
            building.rename(target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python


class Recorder:
    """A webhook endpoint that keeps every delivery as it arrived: raw body and ``X-Hub-Signature-256``."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self.app = Flask("webhook-recorder")
        self.app.add_url_rule("/whatsapp", view_func=self._receive, methods=["POST"])

    def _receive(self) -> tuple[str, int]:
        with self._lock:
            self.deliveries.append(
                {"body": request.get_data(as_text=True), "signature": request.headers.get("X-Hub-Signature-256", "")}
            )
        return "ok", 200

    def values(self) -> list[dict[str, Any]]:
        """Every ``value`` of every recorded delivery."""
        with self._lock:
            bodies = [json.loads(d["body"]) for d in self.deliveries]
        return [change["value"] for body in bodies for entry in body["entry"] for change in entry["changes"]]


def _drive(python: Path, job: dict[str, Any]) -> dict[str, Any]:
    """Run the pywa 3 driver with ``job`` on stdin; its one JSON result."""
    done = subprocess.run(
        [str(python), str(DRIVER)], input=json.dumps(job), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _statuses(recorder: Recorder) -> set[tuple[str, str]]:
    return {(s["id"], s["status"]) for value in recorder.values() for s in value.get("statuses", [])}


def test_pywa3_sends_and_parses_what_the_sandbox_speaks(
    pywa3_python: Path,
    sandbox: GraphSandbox,
    settings: dict[str, Any],
    catalog: ProductCatalog,
    serve: Callable[[Flask], str],
) -> None:
    recorder = Recorder()
    sandbox.subscribe_webhooks(serve(recorder.app) + "/whatsapp", object="whatsapp_business_account")
    hello = sandbox.customer_text(None, CUSTOMER, "hi", name="Ada")
    question = sandbox.customer_text(None, CUSTOMER, "do you ship to Austria?", name="Ada")

    sent = _drive(
        pywa3_python,
        {"mode": "send", "settings": settings, "customer": CUSTOMER, "products": PRODUCTS, "read": question},
    )
    assert sent["errors"] == {}
    ids = sent["sent"]
    received = {m["_sandbox"]["id"]: m for m in sandbox.messages_to(CUSTOMER)}
    kinds = {step: (received[i]["type"], (received[i].get("interactive") or {}).get("type")) for step, i in ids.items()}
    assert kinds == {
        "text": ("text", None),
        "buttons": ("interactive", "button"),
        "list": ("interactive", "list"),
        "product": ("interactive", "product"),
        "product_list": ("interactive", "product_list"),
        "image": ("image", None),
        "template_back_in_stock": ("template", None),
        "template_order_shipped": ("template", None),
    }
    assert received[ids["image"]]["image"]["link"] == "https://images.example.com/shirt-1.jpg"
    # The read receipt: both of the customer's messages show as read (earlier ones of the chat are marked too).
    assert sent["read"]
    assert all(m["read"] for m in sandbox.whatsapp_received(CUSTOMER) if m["id"] in (hello, question))

    # The customer answers every kind of message; the sandbox reports each of ours sent, delivered and read.
    sandbox.customer_press_button(None, CUSTOMER, "Browse")
    sandbox.customer_pick_row(None, CUSTOMER, "col-1")
    sandbox.customer_press_button(None, CUSTOMER, "Stop alerts")
    cart = sandbox.customer_cart(None, CUSTOMER, {"shirt-1": 2})
    where = sandbox.customer_location(None, CUSTOMER, 52.52, 13.40, name="Home")
    wanted = {(i, s) for i in ids.values() for s in ("sent", "delivered", "read")}
    wait_until(lambda: _statuses(recorder), lambda seen: wanted <= seen)
    # One more message that WhatsApp accepts but cannot deliver: a failed status (without contacts[], as Meta sends it).
    sandbox.set_options(failing_recipients=[CUSTOMER], status_fail_code=131049)
    job = {"mode": "send", "settings": settings, "customer": CUSTOMER, "products": PRODUCTS, "steps": ["text"]}
    undeliverable = _drive(pywa3_python, job)["sent"]["text"]
    wait_until(lambda: _statuses(recorder), lambda seen: (undeliverable, "failed") in seen)
    wait_until(
        lambda: {m["id"] for v in recorder.values() for m in v.get("messages", [])}, lambda seen: where["id"] in seen
    )

    parsed = _drive(pywa3_python, {"mode": "parse", "settings": settings, "deliveries": recorder.deliveries})
    assert parsed["answers"] == [["ok", 200]] * len(recorder.deliveries)  # every signature checked out
    updates = parsed["updates"]
    messages = {u["id"]: u for u in updates if u["kind"] == "message"}
    assert messages[hello] == {
        "kind": "message",
        "id": hello,
        "type": "text",
        "wa_id": CUSTOMER,
        "name": "Ada",
        "text": "hi",
    }
    assert messages[cart["id"]]["order"] == [["shirt-1", 2]]
    assert messages[where["id"]]["location"] == [52.52, 13.40]
    buttons = {u["data"]: u for u in updates if u["kind"] == "button"}
    assert buttons["browse"]["reply_to"] == ids["buttons"]
    assert buttons["stop-alerts"]["reply_to"] == ids["template_back_in_stock"]
    assert [u["data"] for u in updates if u["kind"] == "selection"] == ["col-1"]
    statuses = {(u["id"], u["status"]) for u in updates if u["kind"] == "status" and u["wa_id"] == CUSTOMER}
    assert wanted <= statuses
    [failed] = [u for u in updates if u["kind"] == "status" and (u["id"], u["status"]) == (undeliverable, "failed")]
    assert failed["wa_id"] == CUSTOMER  # pywa 3 reads recipient_id, so it parses failures without contacts[]
    # pywa 3.9 has no typed exception for 131049 (4.x raises MessageUndeliverableDueToHealthyEcosystemEngagement).
    assert failed["error"] == ["WhatsAppError", 131049]
    # A delivery with a forged signature reaches no handler (pywa 3 answers it with 200, see docs/channels/sandbox.md).
    text, _status, handled = parsed["forged"]
    assert text == "Unmatching signature" and not handled
