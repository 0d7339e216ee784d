"""The inbox pages through the real Flask app (no browser): hostile filters and forms get a 4xx with the reason (a
channel account that cannot be asked, a 502 with it), free text outside the window is refused with nothing queued,
a double submit queues one message, an unreachable channel account leaves the page usable, and opening a thread
marks it read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from connector import model
from connector.dashboard.users import create_user
from connector.db.models import ChannelConnection, Contact, InboundMessage, OutboundMessage
from connector.db.models_inbox import InboxConversation
from connector.runtime import Runtime
from connector.serialization import to_json
from tests.conftest import add_channel

from .conftest import EMAIL, PASSWORD, csrf_of


def _contact(rt: Runtime, *, wrote_hours_ago: float) -> int:
    """A WhatsApp customer (on a number whose Graph API nobody answers) who wrote once, that long ago."""
    at = datetime.now(UTC) - timedelta(hours=wrote_hours_ago)
    with rt.db.session() as session:
        channel: ChannelConnection = add_channel(session)
        channel.settings = {"graph_url": "http://127.0.0.1:9", "phone_number_id": "1", "waba_id": "2"}
        contact = Contact(
            channel_connection_id=channel.id, channel_user_id="4915100000123", phone="4915100000123", name="Ada"
        )
        contact.last_inbound_at = at
        session.add(contact)
        session.flush()
        sender = model.Contact(channel="whatsapp", channel_user_id="4915100000123", phone="4915100000123")
        session.add(
            InboundMessage(
                channel_connection_id=channel.id,
                contact_id=contact.id,
                message_id="wamid.1",
                type="InboundText",
                data=to_json(model.InboundText("wamid.1", sender, text="Where is my parcel?")),
                received_at=at,
            )
        )
        session.flush()
        return contact.id


@pytest.fixture
def owner(runtime: Runtime, client: Any) -> tuple[Any, str]:
    create_user(runtime, EMAIL, PASSWORD)
    csrf = csrf_of(client.get("/dashboard/login").text)
    client.post("/dashboard/login", data={"csrf_token": csrf, "email": EMAIL, "password": PASSWORD})
    return client, csrf_of(client.get("/dashboard/inbox").text)


def _queued(rt: Runtime) -> int:
    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(OutboundMessage)) or 0


def test_hostile_filters_and_forms_get_a_reason(runtime: Runtime, owner: tuple[Any, str]) -> None:
    client, csrf = owner
    contact_id = _contact(runtime, wrote_hours_ago=1)
    for query in ("channel=abc", "shop=1e9", "page=-1", "channel=99999999999999999999"):
        response = client.get(f"/dashboard/inbox?{query}")
        assert response.status_code == 400 and "must be a number" in response.text, query
    keyless = client.post(f"/dashboard/inbox/{contact_id}/reply", data={"csrf_token": csrf, "text": "hi"})
    assert keyless.status_code == 400 and "needs a key" in keyless.text
    template = {"csrf_token": csrf, "key": "k1", "template": "hello_world:en_US"}
    unreachable = client.post(f"/dashboard/inbox/{contact_id}/reply", data=template)  # nobody answers at the Graph URL
    assert unreachable.status_code == 502 and "could not read the approved templates" in unreachable.text
    long = {"csrf_token": csrf, "key": "k2", "text": "x" * 5000}
    assert client.post(f"/dashboard/inbox/{contact_id}/reply", data=long).status_code == 400
    forged = client.post(f"/dashboard/inbox/{contact_id}/take-over", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert _queued(runtime) == 0


def test_a_double_submit_queues_one_reply(runtime: Runtime, owner: tuple[Any, str]) -> None:
    client, csrf = owner
    contact_id = _contact(runtime, wrote_hours_ago=1)
    form = {"csrf_token": csrf, "key": "form-123", "text": "Hi Ada, it left today."}
    for _ in range(2):
        assert client.post(f"/dashboard/inbox/{contact_id}/reply", data=form).status_code == 302
    assert _queued(runtime) == 1
    page = client.get(f"/dashboard/inbox/{contact_id}")
    assert "Hi Ada, it left today." in page.text and EMAIL in page.text


def test_outside_the_window_free_text_is_refused_and_the_page_survives_an_unreachable_account(
    runtime: Runtime, owner: tuple[Any, str]
) -> None:
    client, csrf = owner
    contact_id = _contact(runtime, wrote_hours_ago=30)
    page = client.get(f"/dashboard/inbox/{contact_id}")
    assert page.status_code == 200
    assert "window is closed" in page.text and 'id="reply-text"' not in page.text
    assert "could not read the approved templates" in page.text  # the Graph API did not answer: said, not a 500
    typed = {"csrf_token": csrf, "key": "k3", "text": "Sorry for the wait"}
    refused = client.post(f"/dashboard/inbox/{contact_id}/reply", data=typed)
    assert refused.status_code == 409 and "pick an approved template" in refused.text
    assert _queued(runtime) == 0


def test_opening_a_thread_marks_it_read(runtime: Runtime, owner: tuple[Any, str]) -> None:
    client, _ = owner
    contact_id = _contact(runtime, wrote_hours_ago=1)
    assert "1 unread message<" in client.get("/dashboard/inbox?unread=1").text
    assert "Where is my parcel?" in client.get(f"/dashboard/inbox/{contact_id}").text
    listed = client.get("/dashboard/inbox?unread=1").text
    assert "Ada" not in listed and "0 conversations" in listed
    assert "Ada" in client.get("/dashboard/inbox").text


def test_export_holds_the_inbox_state_and_erasure_removes_it(runtime: Runtime, owner: tuple[Any, str]) -> None:
    client, csrf = owner
    contact_id = _contact(runtime, wrote_hours_ago=1)
    assert client.post(f"/dashboard/inbox/{contact_id}/take-over", data={"csrf_token": csrf}).status_code == 302
    export = client.get(f"/dashboard/contacts/{contact_id}/export.json").json
    assert export["inbox"]["taken_over_by"] == EMAIL
    assert client.post(f"/dashboard/contacts/{contact_id}/erase", data={"csrf_token": csrf}).status_code == 302
    with runtime.db.session() as session:
        assert session.get(InboxConversation, contact_id) is None
    assert client.get(f"/dashboard/inbox/{contact_id}").status_code == 404


def test_the_list_poll_answers_204_until_something_changes(runtime: Runtime, owner: tuple[Any, str]) -> None:
    client, csrf = owner
    contact_id = _contact(runtime, wrote_hours_ago=1)
    first = client.get("/dashboard/inbox/list")
    sig = re.search(r'id="inbox-list-sig" name="sig" value="([^"]+)"', first.text)
    assert first.status_code == 200 and sig is not None
    assert client.get("/dashboard/inbox/list", query_string={"sig": sig.group(1)}).status_code == 204
    client.post(f"/dashboard/inbox/{contact_id}/take-over", data={"csrf_token": csrf})
    changed = client.get("/dashboard/inbox/list", query_string={"sig": sig.group(1)})
    assert changed.status_code == 200 and f"Taken over by {EMAIL}" in changed.text


def test_times_and_prices_are_shown_in_the_viewers_language(runtime: Runtime, owner: tuple[Any, str]) -> None:
    from connector.i18n import formatting

    client, _ = owner
    contact_id = _contact(runtime, wrote_hours_ago=1)
    with runtime.db.session() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        wrote = contact.last_inbound_at
        sent_at = datetime.now(UTC) - timedelta(minutes=30)
        session.add(
            OutboundMessage(
                channel_connection_id=contact.channel_connection_id, contact_id=contact_id, recipient="4915100000123",
                kind="order_shipped", payload={}, idempotency_key="shipped", purpose="utility", status="delivered",
                created_at=sent_at, sent_at=sent_at, cost=0.0113, currency="EUR",
            )
        )  # fmt: skip
        session.add(
            OutboundMessage(
                channel_connection_id=contact.channel_connection_id, contact_id=contact_id, recipient="4915100000123",
                kind="back_in_stock", payload={}, idempotency_key="paid", purpose="marketing", status="skipped",
                created_at=sent_at, reason="the order was paid",
            )
        )  # fmt: skip
    zone = runtime.config.dashboard.time_zone
    german = {"Accept-Language": "de"}

    thread = client.get(f"/dashboard/inbox/{contact_id}", headers=german).text
    assert formatting.date_time(wrote, "de", zone) in thread  # "Mo., 7. Dez. 2026, 10:38": the customer's message
    assert formatting.date_time(sent_at, "de", zone) in thread
    assert "0,0113\xa0€" in thread and "0.0113 EUR" not in thread  # the message's cost as German writes money
    assert "die Bestellung wurde bezahlt" in thread and "the order was paid" not in thread  # the skip reason
    assert wrote.strftime("%Y-%m-%d %H:%M") not in thread  # not the ISO-like UTC stamp it showed before
    listed = client.get("/dashboard/inbox", headers=german).text
    assert formatting.date_time(wrote, "de", zone) in listed  # the last time the customer wrote
    english = client.get(f"/dashboard/inbox/{contact_id}", headers={"Accept-Language": "en"}).text
    assert "€0.0113" in english and formatting.date_time(wrote, "en", zone) in english
