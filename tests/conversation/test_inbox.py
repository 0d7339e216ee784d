"""The inbox over real HTTP: the connector (web app + worker) on a port, the Graph sandbox as WhatsApp and Messenger,
and the ``/api/v1/inbox`` operations called with a bearer token, as a script or the dashboard would.

A customer asks for a person, a person answers inside the window (the customer receives it, once), outside it only
with an approved template (priced from the rate card; free text refused and nothing sent), takes over (the bot is
silent) and hands back (the bot answers again); on Messenger a person's reply goes with the HUMAN_AGENT tag up to 7
days after the customer's last message and is refused after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from connector.api.auth import create_token
from connector.db.models import Contact, OutboundMessage
from tests.conftest import wait_for
from tests.conversation.conftest import ChatStack, Customer, visible_text

HOUR = 3600.0
DAY = 24 * HOUR


class Inbox:
    """The inbox API over HTTP with an owner's token."""

    def __init__(self, chat: ChatStack, role: str = "owner"):
        self.chat = chat
        self.base = f"{chat.stack.url}/api/v1/inbox"
        token = create_token(chat.runtime, f"inbox-{role}", role=role)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str = "/", **params: Any) -> requests.Response:
        return requests.get(f"{self.base}{path}", headers=self.headers, params=params, timeout=30)

    def post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return requests.post(f"{self.base}{path}", headers=self.headers, json=body or {}, timeout=30)

    def contact_id(self, customer: Customer) -> int:
        with self.chat.runtime.db.session() as session:
            found = session.scalar(
                select(Contact.id).where(
                    Contact.channel_connection_id == customer.channel_id, Contact.channel_user_id == customer.user_id
                )
            )
        assert found is not None
        return int(found)

    def sent(self, message_id: int) -> OutboundMessage:
        """Wait until the outbox row left (or failed) and return it."""

        def settled() -> OutboundMessage | None:
            with self.chat.runtime.db.session() as session:
                row = session.get(OutboundMessage, message_id)
                if row is not None and row.status in ("sent", "delivered", "read", "failed", "skipped"):
                    session.expunge(row)
                    return row
            return None

        return wait_for(settled)


def _time_passes(chat: ChatStack, customer: Customer, seconds: float) -> None:
    """``seconds`` pass for this customer on both sides: their last message is that much older for the connector,
    and the sandbox's clock (which judges the channel's windows) moves on as much."""
    with chat.runtime.db.session() as session:
        contact = session.scalar(
            select(Contact).where(
                Contact.channel_connection_id == customer.channel_id, Contact.channel_user_id == customer.user_id
            )
        )
        assert contact is not None and contact.last_inbound_at is not None
        contact.last_inbound_at -= timedelta(seconds=seconds)
    chat.graph.advance_clock(seconds)


def _received(chat: ChatStack, customer: Customer) -> list[dict[str, Any]]:
    return chat.graph.messages_to(customer.user_id)


@pytest.fixture
def inbox(chat_stack: ChatStack) -> Inbox:
    return Inbox(chat_stack)


def test_a_person_answers_inside_the_window_and_the_customer_receives_it_once(
    chat_stack: ChatStack, inbox: Inbox
) -> None:
    customer = chat_stack.whatsapp_customer("Erika Muster")
    customer.say("agent")  # asks for a person: the bot says so and goes silent
    contact_id = inbox.contact_id(customer)
    waiting = inbox.get("/", needs_person="true").json()
    assert [c["contact_id"] for c in waiting["items"]] == [contact_id]
    assert waiting["items"][0]["name"] == "Erika Muster" and waiting["items"][0]["unread"] == 1
    thread = inbox.get(f"/{contact_id}").json()
    assert thread["window"]["text_allowed"] and thread["window"]["inside_24h"]

    body = {"text": "Hi Erika, Anna here. How can I help?", "key": "reply-1"}
    first = inbox.post(f"/{contact_id}/reply", body)
    assert first.status_code == 202, first.text
    again = inbox.post(f"/{contact_id}/reply", body)  # the same form sent twice (a retry): one message
    assert again.json()["message_id"] == first.json()["message_id"]
    row = inbox.sent(first.json()["message_id"])
    assert row.status in ("sent", "delivered", "read") and row.kind == "agent_reply"
    assert row.cost is not None and row.cost > 0 and row.category == "service"  # priced: service at the utility rate
    texts = [visible_text(m) for m in _received(chat_stack, customer)]
    assert texts.count("Hi Erika, Anna here. How can I help?") == 1

    assert inbox.get("/", needs_person="true").json()["items"] == []  # answered
    thread = inbox.get(f"/{contact_id}").json()
    sides = [(e["side"], e["text"]) for e in thread["entries"]]
    assert [side for side, _ in sides] == ["customer", "event", "bot", "person"]
    assert sides[0][1] == "agent" and sides[3][1] == "Hi Erika, Anna here. How can I help?"
    assert thread["entries"][3]["status"] in ("sent", "delivered", "read")
    assert thread["entries"][3]["cost"] == row.cost
    assert thread["entries"][3]["author"] == "API token inbox-owner"


def test_unread_counts_until_a_person_reads_the_thread(chat_stack: ChatStack, inbox: Inbox) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say("hello")
    customer.say("anyone there?")
    contact_id = inbox.contact_id(customer)
    [row] = [c for c in inbox.get("/", unread="true").json()["items"] if c["contact_id"] == contact_id]
    assert row["unread"] == 2
    assert inbox.post(f"/{contact_id}/read").status_code == 204
    assert contact_id not in [c["contact_id"] for c in inbox.get("/", unread="true").json()["items"]]
    customer.say("hello again")
    assert [c["unread"] for c in inbox.get("/").json()["items"] if c["contact_id"] == contact_id] == [1]


def test_outside_the_window_only_an_approved_template_goes_with_its_price(chat_stack: ChatStack, inbox: Inbox) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say("hello")
    contact_id = inbox.contact_id(customer)
    _time_passes(chat_stack, customer, 25 * HOUR)
    before = len(_received(chat_stack, customer))

    refused = inbox.post(f"/{contact_id}/reply", {"text": "Sorry for the wait!"})
    assert refused.status_code == 409 and "pick an approved template" in refused.json()["message"]
    window = inbox.get(f"/{contact_id}").json()["window"]
    assert not window["text_allowed"] and window["templates"]

    templates = {t["name"]: t for t in inbox.get(f"/{contact_id}/templates").json()}
    assert "back_in_stock" not in templates  # an image header the inbox cannot fill
    shipped = templates["order_shipped"]
    assert (shipped["parameters"], shipped["button_parameters"], shipped["category"]) == (3, 1, "utility")
    assert shipped["price"] > 0 and shipped["currency"] == chat_stack.runtime.config.notify.rate_card_currency
    missing = inbox.post(f"/{contact_id}/reply", {"template": "order_shipped", "parameters": ["Erika"]})
    assert missing.status_code == 400 and "takes 3 parameter" in missing.json()["message"]

    sent = inbox.post(
        f"/{contact_id}/reply",
        {
            "template": "order_shipped",
            "language": shipped["language"],
            "parameters": ["Erika", "#1001", "DHL"],
            "button_parameters": ["1001"],
        },
    )
    assert sent.status_code == 202, sent.text
    row = inbox.sent(sent.json()["message_id"])
    assert row.status in ("sent", "delivered", "read"), row.error
    assert row.cost == pytest.approx(shipped["price"]) and row.outside_window
    received = _received(chat_stack, customer)[before:]
    assert [m["type"] for m in received] == ["template"]
    assert received[0]["template"]["name"] == "order_shipped"


def test_take_over_silences_the_bot_and_hand_back_brings_it_back(chat_stack: ChatStack, inbox: Inbox) -> None:
    customer = chat_stack.whatsapp_customer()
    assert customer.say("hello")  # the bot answers with the menu
    contact_id = inbox.contact_id(customer)
    taken = inbox.post(f"/{contact_id}/take-over")
    assert taken.status_code == 200 and taken.json()["conversation"]["taken_over_by"] == "API token inbox-owner"
    assert customer.say("hello") == []  # handled, and the bot said nothing
    assert customer.say("menu") == []
    handed = inbox.post(f"/{contact_id}/hand-back")
    assert handed.status_code == 200 and handed.json()["conversation"]["taken_over_by"] is None
    assert customer.say("hello")  # the bot answers again


def test_hand_back_ends_a_handoff_silence(chat_stack: ChatStack, inbox: Inbox) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say("agent")
    contact_id = inbox.contact_id(customer)
    assert customer.say("hello") == []  # the handoff silenced the bot
    assert inbox.get(f"/{contact_id}").json()["silent_until"] is not None
    inbox.post(f"/{contact_id}/hand-back")
    assert inbox.get(f"/{contact_id}").json()["silent_until"] is None
    assert customer.say("hello")


def test_messenger_a_person_may_answer_for_7_days_with_the_human_agent_tag(chat_stack: ChatStack, inbox: Inbox) -> None:
    customer = chat_stack.messenger_customer()
    customer.say("my parcel arrived damaged")
    contact_id = inbox.contact_id(customer)
    _time_passes(chat_stack, customer, 3 * DAY)
    window = inbox.get(f"/{contact_id}").json()["window"]
    assert window["text_allowed"] and window["human_agent"] and not window["inside_24h"] and not window["templates"]
    sent = inbox.post(f"/{contact_id}/reply", {"text": "Sorry! A new one is on its way."})
    assert sent.status_code == 202, sent.text
    row = inbox.sent(sent.json()["message_id"])
    assert row.status in ("sent", "delivered", "read"), row.error
    [received] = [m for m in _received(chat_stack, customer) if visible_text(m) == "Sorry! A new one is on its way."]
    assert (received["messaging_type"], received["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert row.cost == 0  # Messenger messages cost nothing

    _time_passes(chat_stack, customer, 5 * DAY)  # 8 days since the customer wrote
    before = len(_received(chat_stack, customer))
    refused = inbox.post(f"/{contact_id}/reply", {"text": "Hello?"})
    assert refused.status_code == 409 and "more than 7 days" in refused.json()["message"]
    assert len(_received(chat_stack, customer)) == before
    assert inbox.get(f"/{contact_id}/templates").json() == []  # Messenger has no templates for a person


def test_malformed_requests_get_a_reason_not_a_500(chat_stack: ChatStack, inbox: Inbox) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say("hello")
    contact_id = inbox.contact_id(customer)
    for body in (
        {},
        {"text": ""},
        {"text": "x" * 5000},
        {"text": "a", "template": "hello_world"},
        {"key": "no spaces"},
    ):
        response = inbox.post(f"/{contact_id}/reply", body)
        assert response.status_code in (400, 422), (body, response.text)
    assert inbox.get("/", limit=0).status_code == 422
    assert inbox.post("/999999/reply", {"text": "hi"}).status_code == 404
