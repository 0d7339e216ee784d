"""Fixtures for the WhatsApp plugin tests: the Graph sandbox, an adapter pointed at it, a webhook receiver that
runs the adapter's webhook half over real HTTP, and the table of over-the-limit messages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from connector_meta.sandbox import GraphSandbox
from connector_whatsapp.adapter import WhatsAppAdapter
from flask import Flask, request
from werkzeug.datastructures import Headers

from connector import model
from connector.adapters import WebhookRequest
from connector.errors import WebhookRejected
from connector.sandbox.server import SandboxServer
from tests.conftest import WAIT_BOUND

B = model.Button
R = model.ListRow
S = model.ListSection
P = model.ProductSection


def rows(n: int, prefix: str = "r") -> list[model.ListRow]:
    return [R(f"{prefix}{i}", f"Row {i}") for i in range(n)]


# (message, field named in the error, documented limit): each is exactly one over one limit.
OVER = [
    (model.TextMessage("x" * 4097), "body", 4096),
    (model.TextMessage(""), "body", 4096),
    (model.ListMessage("b" * 1025, "Options", [S("", rows(1))]), "body", 1024),
    (model.ListMessage("b", "o" * 21, [S("", rows(1))]), "button", 20),
    (model.ListMessage("b", "", [S("", rows(1))]), "button", 20),
    (model.ListMessage("b", "Options", [S("", rows(1))], header="h" * 61), "header", 60),
    (model.ListMessage("b", "Options", [S("", rows(1))], footer="f" * 61), "footer", 60),
    (model.ListMessage("b", "Options", [S(f"s{i}", rows(1, f"s{i}r")) for i in range(11)]), "sections", 10),
    (
        model.ListMessage("b", "Options", [S("a", rows(6, "a")), S("b", rows(5, "b"))]),
        "rows (all sections together)",
        10,
    ),
    (model.ListMessage("b", "Options", [S("t" * 25, rows(1))]), "sections[0].title", 24),
    (model.ListMessage("b", "Options", [S("a", rows(1, "a")), S("", rows(1, "b"))]), "sections[1].title", 24),
    (model.ListMessage("b", "Options", [S("", [R("i" * 201, "t")])]), "sections[0].rows[0].id", 200),
    (model.ListMessage("b", "Options", [S("", [R("i", "t" * 25)])]), "sections[0].rows[0].title", 24),
    (model.ListMessage("b", "Options", [S("", [R("i", "t", "d" * 73)])]), "sections[0].rows[0].description", 72),
    (model.ListMessage("b", "Options", [S("", [R("i", "a"), R("i", "b")])]), "rows[1].id", None),
    (model.ButtonsMessage("b", [B("1", "a"), B("2", "b"), B("3", "c"), B("4", "d")]), "buttons", 3),
    (model.ButtonsMessage("b", []), "buttons", 3),
    (model.ButtonsMessage("b", [B("1", "t" * 21)]), "buttons[0].title", 20),
    (model.ButtonsMessage("b", [B("i" * 257, "t")]), "buttons[0].id", 256),
    (model.ButtonsMessage("b", [B("1", "Same"), B("2", "Same")]), "buttons[1].title", None),
    (model.ButtonsMessage("b" * 1025, [B("1", "a")]), "body", 1024),
    (model.ButtonsMessage("b", [B("1", "a")], header="h" * 61), "header", 60),
    (model.ButtonsMessage("b", [B("1", "a")], footer="f" * 61), "footer", 60),
    (model.LinkButtonMessage("b", "d" * 21, "https://x.example"), "display_text", 20),
    (model.LinkButtonMessage("b", "Pay", "javascript:alert(1)"), "url", None),
    (model.LinkButtonMessage("b" * 1025, "Pay", "https://x.example"), "body", 1024),
    (model.LinkButtonMessage("b", "Pay", "https://x.example", header="h" * 61), "header", 60),
    (model.LinkButtonMessage("b", "Pay", "https://x.example", footer="f" * 61), "footer", 60),
    (model.ProductMessage("cat1", "sku", body="b" * 1025), "body", 1024),
    (model.ProductMessage("cat1", "sku", footer="f" * 61), "footer", 60),
    (model.ProductMessage("cat1", ""), "retailer_id", 100),
    (
        model.ProductListMessage(
            "cat1", "h", "b", [P("a", [f"a{i}" for i in range(16)]), P("b", [f"b{i}" for i in range(15)])]
        ),
        "products (all sections together)",
        30,
    ),
    (model.ProductListMessage("cat1", "h", "b", [P(f"s{i}", [f"x{i}"]) for i in range(11)]), "sections", 10),
    (model.ProductListMessage("cat1", "", "b", [P("", ["x"])]), "header", 60),
    (model.ProductListMessage("cat1", "h" * 61, "b", [P("", ["x"])]), "header", 60),
    (model.ProductListMessage("cat1", "h", "", [P("", ["x"])]), "body", 1024),
    (model.ProductListMessage("cat1", "h", "b" * 1025, [P("", ["x"])]), "body", 1024),
    (model.ProductListMessage("cat1", "h", "b", [P("", ["x"])], footer="f" * 61), "footer", 60),
    (model.ProductListMessage("cat1", "h", "b", [P("t" * 25, ["x"])]), "sections[0].title", 24),
    (model.ProductListMessage("cat1", "h", "b", [P("a", ["x"]), P("", ["y"])]), "sections[1].title", 24),
    (model.CatalogMessage("b" * 1025, "sku"), "body", 1024),
    (model.CatalogMessage("", "sku"), "body", 1024),
    (model.CatalogMessage("b", "sku", footer="f" * 61), "footer", 60),
    (model.CatalogMessage("b", None), "thumbnail_retailer_id", 100),
    (model.TemplateMessage("n" * 513, "en_US"), "name", 512),
    (model.TemplateMessage("Order Shipped", "en_US"), "name", None),
    (model.TemplateMessage("order_shipped", "English"), "language", None),
    (model.TemplateMessage("order_shipped", "en", header_parameters=["a", "b"]), "header_parameters", 1),
    (model.TemplateMessage("order_shipped", "en", header_parameters=["h" * 61]), "header_parameters[0]", 60),
    (model.TemplateMessage("order_shipped", "en", body_parameters=["x" * 1025]), "body_parameters[0]", 1024),
    (model.TemplateMessage("order_shipped", "en", body_parameters=["x" * 600, "y" * 425]), "body_parameters", 1024),
    (model.TemplateMessage("order_shipped", "en", body_parameters=["line\nbreak"]), "body_parameters[0]", None),
    (model.TemplateMessage("order_shipped", "en", body_parameters=[""]), "body_parameters[0]", 1024),
    (model.TemplateMessage("order_shipped", "en", button_parameters=["a", "b", "c"]), "button_parameters", 2),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "over_limit_case" in metafunc.fixturenames:
        ids = [f"{type(m).__name__}-{f}-{i}" for i, (m, f, _) in enumerate(OVER)]
        metafunc.parametrize("over_limit_case", OVER, ids=ids)


# --------------------------------------------------------------------------- sandbox


@pytest.fixture(scope="session")
def graph_sandbox() -> Iterator[GraphSandbox]:
    sandbox = GraphSandbox(options={"status_flow": []})
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(graph_sandbox: GraphSandbox) -> Iterator[GraphSandbox]:
    """The session's sandbox, reset to a clean state with default options for each test."""
    graph_sandbox.reset()
    graph_sandbox.set_options(
        status_flow=[], mps=80, pair_limit=20, bad_recipients=[], throttle_http_status=429, window_hours=24
    )
    yield graph_sandbox


def adapter_settings(sandbox: GraphSandbox, **overrides: Any) -> dict[str, Any]:
    names = {f.name for f in WhatsAppAdapter.config_fields}
    values = {k: v for k, v in sandbox.connection_settings().items() if k in names}
    values.update(overrides)
    return WhatsAppAdapter.validate_settings(values)


@pytest.fixture
def adapter(sandbox: GraphSandbox) -> WhatsAppAdapter:
    return WhatsAppAdapter(adapter_settings(sandbox))


class Receiver:
    """The connector's webhook endpoint in miniature: handshake, verify, parse, answer like the core would."""

    def __init__(self, adapter: WhatsAppAdapter):
        self.adapter = adapter
        self.parsed: list[Any] = []
        self.raw: list[WebhookRequest] = []
        self.rejected: list[WebhookRejected] = []
        self._cond = threading.Condition()
        app = Flask("whatsapp-receiver")

        @app.route("/hook", methods=["GET", "POST"])
        def hook():  # type: ignore[no-untyped-def]
            captured = WebhookRequest(
                method=request.method,
                url=request.url,
                headers=Headers(list(request.headers.items())),
                query=request.args.to_dict(),
                body=request.get_data(),
            )
            reply = self.adapter.handshake(captured)
            if reply is not None:
                return reply.body, reply.status, {"Content-Type": reply.content_type}
            try:
                self.adapter.verify_webhook(captured)
                parsed = self.adapter.parse_webhook(captured)
            except WebhookRejected as exc:
                with self._cond:
                    self.rejected.append(exc)
                return exc.reason, exc.status
            with self._cond:
                self.raw.append(captured)
                self.parsed.append(parsed)
                self._cond.notify_all()
            return "", 200

        self.server = SandboxServer(app)

    @property
    def events(self) -> list[Any]:
        with self._cond:
            return [event for parsed in self.parsed for event in parsed.events]

    def wait_for(self, count: int, timeout: float = WAIT_BOUND) -> list[Any]:
        """Block until ``count`` events arrived; return them."""
        with self._cond:
            self._cond.wait_for(lambda: sum(len(p.events) for p in self.parsed) >= count, timeout=timeout)
        return self.events


@pytest.fixture(scope="session")
def _receiver(graph_sandbox: GraphSandbox) -> Iterator[Receiver]:
    recv = Receiver(WhatsAppAdapter(adapter_settings(graph_sandbox)))
    recv.server.start()
    yield recv
    recv.server.stop()


@pytest.fixture
def receiver(sandbox: GraphSandbox, _receiver: Receiver) -> Receiver:
    """A running receiver, subscribed to the sandbox's WhatsApp webhooks through Meta's verification handshake."""
    with _receiver._cond:
        _receiver.parsed.clear()
        _receiver.raw.clear()
        _receiver.rejected.clear()
    verify_token = _receiver.adapter.settings["verify_token"]
    url = f"{_receiver.server.url}/hook"
    sandbox.subscribe_webhooks(url, object="whatsapp_business_account", verify_token=verify_token)
    return _receiver
