"""Fixtures for notification tests: the live stack (WooCommerce sandbox -> connector -> Graph sandbox) with a
``[notify]`` configuration chosen per test, and helpers to make customers and orders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector import model
from connector.db.migrate import upgrade
from connector.db.models import OutboundMessage
from connector.notify.consent import record_opt_in
from connector.notify.contacts import contact_for_phone
from connector.plugins import Plugins
from connector.runtime import Runtime
from connector.sandbox.base import Sandbox
from tests.conftest import WAIT_BOUND, Stack, make_config, start_stack, stop_stack, wait_for

StackFactory = Callable[..., Stack]


@pytest.fixture
def notify_stack(tmp_path: Path, plugins: Plugins) -> Iterator[StackFactory]:
    """``notify_stack(**notify_settings)`` starts a live stack whose runtime has those ``[notify]`` settings
    (and, with ``worker={...}``, those ``[worker]`` settings)."""
    started: list[Stack] = []

    def make(worker: dict[str, Any] | None = None, **notify: Any) -> Stack:
        config = make_config(f"sqlite:///{tmp_path / 'connector.db'}", notify=notify, worker=worker or {})
        rt = Runtime(config, plugins=plugins)
        upgrade(rt.db)
        stack = start_stack(rt)
        started.append(stack)
        return stack

    yield make
    for stack in started:
        stop_stack(stack)
        stack.runtime.close()


def customer(stack: Stack, phone: str, *, purposes: tuple[str, ...] = ("utility",), locale: str | None = None) -> int:
    """A contact for ``phone`` on the stack's WhatsApp number, opted in to ``purposes``; returns its id."""
    rt = stack.runtime
    with rt.db.session() as session:
        contact = contact_for_phone(session, stack.shop_id, phone, name="Erika", locale=locale)
        assert contact is not None
        contact_id = contact.id
        for purpose in purposes:
            record_opt_in(
                rt,
                contact_id=contact_id,
                purpose=purpose,
                source="test",
                text=f"I want {purpose} messages on WhatsApp",
                session=session,
            )
    return contact_id


def place_order(stack: Stack, phone: str, reference: str) -> model.Order:
    """An order in the shop sandbox, created through the shop's own API."""
    adapter = stack.runtime.connections.shop_adapter(stack.shop_id)
    return adapter.create_order(
        model.Cart(
            lines=[model.CartLine(variant_external_id=stack.shop.variant_ids()[3], quantity=1)], reference=reference
        ),
        model.Customer(
            phone="+" + phone.lstrip("+"), email="erika@example.com", first_name="Erika", last_name="Muster"
        ),
        model.Address(name="Erika Muster", line1="Hauptstr. 1", postcode="20095", city="Hamburg", country_code="DE"),
    )


def rows(stack: Stack, **where: Any) -> list[OutboundMessage]:
    """Outbox rows, oldest first, filtered by column values."""
    query = select(OutboundMessage).order_by(OutboundMessage.id)
    for key, value in where.items():
        query = query.where(getattr(OutboundMessage, key) == value)
    with stack.runtime.db.session() as session:
        return list(session.scalars(query))


def settled(stack: Stack, kind: str, count: int = 1, timeout: float = WAIT_BOUND) -> list[OutboundMessage]:
    """Wait until ``count`` rows of ``kind`` left pending/sending, and return them."""

    def done() -> list[OutboundMessage] | None:
        found = rows(stack, kind=kind)
        finished = [r for r in found if r.status not in ("pending", "sending")]
        return found if len(found) >= count and len(finished) == len(found) else None

    return wait_for(done, timeout=timeout)


class ApiClient:
    """The admin API of a live stack over real HTTP, with a bearer token."""

    def __init__(self, stack: Stack):
        import requests

        from connector.api.auth import create_token

        self.base = stack.url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {create_token(stack.runtime, 'notify-tests')}"

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(self.base + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.http.post(self.base + path, timeout=10, **kwargs)


@pytest.fixture
def graph(plugins: Plugins) -> Iterator[Sandbox]:
    """A Graph sandbox on its own (1,000 messages/s; statuses sent, delivered) for the fan-out harness tests."""
    sandbox = plugins.sandboxes()["graph"](options={"mps": 1000, "status_flow": ["sent", "delivered"]})
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def api_client() -> Callable[[Stack], ApiClient]:
    """``api_client(stack)``: the stack's admin API with a fresh token."""
    return ApiClient
