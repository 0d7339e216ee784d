"""GDPR end to end: a customer who chatted, ordered in chat, gave an address and subscribed is exported whole and
then erased everywhere — every column of every table, and the SQLite file itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import LargeBinary, String, Text, func, select
from sqlalchemy.types import JSON, TypeDecorator

from connector.dashboard.users import create_user
from connector.db.models import Base, Contact, Task, WebhookEvent
from connector.web.app import create_app
from tests.conftest import wait_for
from tests.conversation.conftest import ChatStack, Customer, reply_ids
from tests.conversation.test_orders_and_address import buy
from tests.dashboard.conftest import EMAIL, PASSWORD, csrf_of

NAME = "Erika Gdprtest"
MAIL = "erika.gdprtest@example.org"
STREET = "Vergissmeinnichtweg 12"
CITY = "Löschhausen"


def _personal_columns() -> list[tuple[str, str]]:
    """Every text, JSON and binary column of every table."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
            if isinstance(kind, String | Text | JSON | LargeBinary):
                found.append((table.name, column.name))
    return found


def _occurrences(chat: ChatStack, needles: list[str]) -> list[str]:
    """Where any needle occurs: decrypted (through the models' column types) and as stored (raw SQL)."""
    hits = []
    with chat.runtime.db.session() as session:
        for table_name, column in _personal_columns():
            table = Base.metadata.tables[table_name]
            for (value,) in session.execute(select(table.c[column])):
                shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)
                hits += [f"{table_name}.{column}: {n}" for n in needles if n in shown]
    path = chat.runtime.db.engine.url.database
    raw = sqlite3.connect(path)
    try:
        for table_name, column in _personal_columns():
            for (value,) in raw.execute(f'SELECT "{column}" FROM "{table_name}"'):
                shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                hits += [f"raw {table_name}.{column}: {n}" for n in needles if n in shown]
    finally:
        raw.close()
    return hits


def _idle(chat: ChatStack) -> None:
    """Wait until every queued task ran (webhooks processed, replies and notifications sent)."""

    def done() -> bool:
        with chat.runtime.db.session() as session:
            return not session.scalar(
                select(func.count()).select_from(Task).where(Task.status.in_(("pending", "running")))
            )

    wait_for(done, timeout=60)


def _dashboard(chat: ChatStack) -> Any:
    create_user(chat.runtime, EMAIL, PASSWORD)
    client = create_app(runtime=chat.runtime).test_client()
    token = csrf_of(client.get("/dashboard/login").text)
    assert (
        client.post("/dashboard/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD}).status_code
        == 302
    )
    return client


def _chat_order_and_address(chat: ChatStack, customer: Customer) -> str:
    customer.say("Hello")
    customer.say(f"Please write to {MAIL}")
    order = buy(chat, customer)
    customer.say("Hello")
    assert order.order_number in customer.last_texts(customer.choose("menu:address"))
    for answer in (NAME, STREET, "80331", CITY):
        customer.say(answer)
    assert "addr:yes" in reply_ids(customer.say("DE"))
    assert "Done: order" in customer.last_texts(customer.choose("addr:yes"))
    return order.order_external_id


@pytest.mark.parametrize("chat_stack", [{"shop": "woocommerce", "shop_webhooks": True}], indirect=True)
def test_export_holds_everything_and_erase_leaves_no_trace(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer(NAME)
    phone = customer.user_id
    order_id = _chat_order_and_address(chat_stack, customer)
    variant = chat_stack.in_stock(1)[0]
    subscribed = requests.post(
        f"{chat_stack.stack.url}/public/back-in-stock",
        json={
            "shop_connection_id": chat_stack.stack.shop_id,
            "variant_external_id": variant,
            "phone": "+" + phone,
            "consent": True,
        },
        timeout=10,
    )
    assert subscribed.status_code == 202  # a request: she grants it by sending its code on WhatsApp (double opt-in)
    customer.say(subscribed.json()["confirm_text"])
    _idle(chat_stack)
    needles = [phone, NAME, STREET, CITY, MAIL]
    with chat_stack.runtime.db.session() as session:
        contact_id = session.scalars(select(Contact.id).where(Contact.channel_user_id == phone)).one()
        # the shop told us about her order too: its payloads are kept (encrypted) and name her
        shop_payloads = session.scalars(select(WebhookEvent.body).where(WebhookEvent.connection_kind == "shop")).all()
    assert any(phone in body.decode() for body in shop_payloads)
    stored_before = _occurrences(chat_stack, needles)
    assert all(any(h.endswith(f": {n}") for h in stored_before) for n in needles), "the scenario stored her data"
    assert any(h.startswith("webhook_events.body") for h in stored_before)
    assert any(h.startswith("tasks.args") for h in stored_before)

    dashboard = _dashboard(chat_stack)
    export = dashboard.get(f"/dashboard/contacts/{contact_id}/export.json").get_json()
    assert export["contact"]["channel_user_id"] == phone
    assert [o["order_external_id"] for o in export["chat_orders"]] == [order_id]
    assert any(a.get("line1") == STREET and a.get("city") == CITY for a in export["addresses"])
    assert any(MAIL in repr(m["data"]) for m in export["inbound_messages"])
    assert any(m["timeline"] for m in export["outbound_messages"])
    assert {c["purpose"] for c in export["consents"] if "granted" in c} == {"utility", "marketing"}
    assert [s["variant_external_id"] for s in export["subscriptions"]] == [variant]
    payloads = export["webhook_payloads"]
    assert {p["adapter"] for p in payloads} == {"whatsapp", "woocommerce"}
    assert any(STREET in repr(p["body"]) for p in payloads if p["adapter"] == "woocommerce")

    token = csrf_of(dashboard.get("/dashboard/contacts").text)
    assert dashboard.post(f"/dashboard/contacts/{contact_id}/erase", data={"csrf_token": token}).status_code == 302
    assert _occurrences(chat_stack, needles) == []
    database = Path(chat_stack.runtime.db.engine.url.database)
    stored = database.read_bytes() + (Path(f"{database}-wal").read_bytes() if Path(f"{database}-wal").exists() else b"")
    assert [n for n in needles if n.encode() in stored] == []
    # a redelivered webhook of hers is still recognised as seen, not stored again
    with chat_stack.runtime.db.session() as session:
        assert session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.error == "contact erased")
        )
