"""Customers known only by a business-scoped user id (issue #16 item 8), over real HTTP with the Graph sandbox.

A WhatsApp user with a username may hide their number: webhooks then carry only ``from_user_id`` /
``contacts[].user_id`` (``US.1349...``). They get every message a phone-number customer gets (sent with
``recipient``), the shipping update of what they bought in the chat (priced by the BSUID's country), and a
``user_changed_number`` system message moves a contact's consent, orders and history to the new number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from connector.db.models import Contact, InboundMessage, OutboundMessage, WebhookEvent
from connector.db.models_conversation import ChatOrder
from connector.db.models_notify import BackInStockSubscription, Consent
from connector.notify.back_in_stock import subscribe
from connector.notify.consent import record_opt_out
from connector.notify.pricing import country_of
from tests.conftest import wait_for
from tests.conversation.conftest import ChatStack, Customer
from tests.notify.conftest import settled


class HiddenNumberCustomer(Customer):
    """A WhatsApp customer who hid their number: WhatsApp sends the business only their BSUID."""

    def _send(self, payload: dict[str, Any]) -> str:
        body = {"wa_id": self.user_id, "name": self.name, "hide_phone": True, **payload}
        message = self.chat.graph.control("POST", "whatsapp/messages", json=body)["message"]
        assert "from" not in message and message["from_user_id"]
        self.sent_as = str(message["from_user_id"])
        return str(message["id"])

    def say(self, text: str) -> list[dict[str, Any]]:
        return self.replies_to(self._send({"type": "text", "text": text}))

    def choose(self, reply_id: str) -> list[dict[str, Any]]:
        try:
            mid = self._send({"type": "list_reply", "row_id": reply_id})
        except Exception:
            mid = self._send({"type": "button", "button": reply_id})
        return self.replies_to(mid)

    sent_as = ""

    @property
    def bsuid(self) -> str:
        """The business-scoped user id WhatsApp sent for them (known once they wrote)."""
        assert self.sent_as
        return self.sent_as


def _contact(chat: ChatStack, **where: Any) -> Contact:
    query = select(Contact).where(Contact.channel_connection_id == chat.stack.channel_id)
    for key, value in where.items():
        query = query.where(getattr(Contact, key) == value)
    with chat.runtime.db.session() as session:
        return session.scalars(query).one()


def test_a_customer_known_only_by_bsuid_is_answered_through_recipient(chat_stack: ChatStack) -> None:
    customer = HiddenNumberCustomer(chat_stack, "whatsapp", "4915100007701", "Sheena")
    replies = customer.say("hi")
    assert replies
    for body in replies:
        assert body["recipient"] == customer.bsuid and "to" not in body
    contact = _contact(chat_stack, user_id=customer.bsuid)
    assert contact.channel_user_id == customer.bsuid and contact.phone is None
    assert chat_stack.graph.stats()["whatsapp"]["refused"] == {}


def test_a_known_customer_who_hides_their_number_stays_one_contact(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer("Kim")
    customer.say("hi")
    before = _contact(chat_stack, channel_user_id=customer.user_id)
    hidden = HiddenNumberCustomer(chat_stack, "whatsapp", customer.user_id, "Kim")
    hidden.seen = customer.seen
    assert hidden.say("hi again")
    after = _contact(chat_stack, user_id=hidden.bsuid)
    assert after.id == before.id and after.phone == "+" + customer.user_id


def _buy(chat: ChatStack, customer: HiddenNumberCustomer) -> ChatOrder:
    """The customer sends a cart from the catalog; WooCommerce needs no address first: the order is created."""
    customer.say("Hello")
    [item] = chat.in_stock(1)
    replies = customer.replies_to(
        customer._send({"type": "order", "product_items": [{"product_retailer_id": item, "quantity": 1}]})
    )
    assert replies[-1]["interactive"]["type"] == "cta_url" and replies[-1]["recipient"] == customer.bsuid
    with chat.runtime.db.session() as session:
        return session.scalars(select(ChatOrder).where(ChatOrder.status == "created")).one()


@pytest.mark.parametrize("chat_stack", [{"shop_webhooks": True}], indirect=True)
def test_a_bsuid_buyer_gets_the_shipping_update_priced_by_the_bsuid_country(chat_stack: ChatStack) -> None:
    shop_stack = chat_stack  # the shop sends its webhooks (the shipment)
    customer = HiddenNumberCustomer(shop_stack, "whatsapp", "4915100007702", "Sheena")
    order = _buy(shop_stack, customer)
    contact = _contact(shop_stack, user_id=customer.bsuid)
    assert contact.phone is None and order.contact_id == contact.id
    # Two days pass: the update has to go as the approved template, which Meta prices by the user's country.
    with shop_stack.runtime.db.session() as session:
        session.execute(
            update(Contact)
            .where(Contact.id == contact.id)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(days=2))
        )
    shop_stack.graph.advance_clock(2 * 86400)
    shop_stack.shop.ship_order(order.order_external_id, company="DHL", number="TRK7702", url="https://dhl.example/t")

    [row] = settled(shop_stack, "order_shipped")
    assert row.status in ("sent", "delivered", "read"), row.reason
    assert row.recipient == customer.bsuid and row.category == "utility"
    assert row.country == "DE" == country_of(customer.bsuid) and row.cost and row.cost > 0
    [sent] = [m for m in shop_stack.graph.messages_to(customer.user_id) if m.get("type") == "template"]
    assert sent["recipient"] == customer.bsuid and "to" not in sent
    assert sent["template"]["name"] == "order_shipped"


def test_a_number_change_moves_consent_orders_and_history_to_the_new_number(chat_stack: ChatStack) -> None:
    rt = chat_stack.runtime
    customer = chat_stack.whatsapp_customer("Kim")
    customer.say("hi")
    old = _contact(chat_stack, channel_user_id=customer.user_id)
    record_opt_out(rt, contact_id=old.id, purpose="marketing", source="keyword", text="STOP")
    with rt.db.session() as session:
        history = session.scalar(select(func.count()).where(InboundMessage.contact_id == old.id))
        replies = session.scalar(select(func.count()).where(OutboundMessage.contact_id == old.id))

    new_number = "4915100007799"
    change = chat_stack.graph.whatsapp_event(customer.user_id, "number_change", new_wa_id=new_number, name="Kim")
    assert change["system"] == {
        "body": f"Kim changed from {customer.user_id} to {new_number}",
        "new_wa_id": new_number,
        "type": "user_changed_number",
    }
    wait_for(lambda: _contact(chat_stack, id=old.id).channel_user_id == new_number)
    moved = _contact(chat_stack, id=old.id)
    assert moved.phone == "+" + new_number

    # The customer writes from the new number: the same contact, with its history and the STOP they said.
    later = Customer(chat_stack, "whatsapp", new_number, "Kim")
    assert later.say("hi")
    assert _contact(chat_stack, channel_user_id=new_number).id == old.id
    with rt.db.session() as session:
        assert session.scalar(select(func.count()).where(InboundMessage.contact_id == old.id)) >= history + 2
        assert session.scalar(select(func.count()).where(OutboundMessage.contact_id == old.id)) > replies
        consent = session.scalars(select(Consent).where(Consent.contact_id == old.id, Consent.purpose == "marketing"))
        assert consent.one().granted is False
        assert session.scalar(select(func.count()).where(Contact.channel_user_id == customer.user_id)) == 0


def test_a_number_change_after_writing_from_the_new_number_merges_the_two(chat_stack: ChatStack) -> None:
    rt = chat_stack.runtime
    customer = chat_stack.whatsapp_customer("Kim")
    customer.say("hi")
    old = _contact(chat_stack, channel_user_id=customer.user_id)
    new_number = "4915100007798"
    early = Customer(chat_stack, "whatsapp", new_number, "Kim")
    early.say("hello from my new phone")  # arrives before WhatsApp's system message
    second = _contact(chat_stack, channel_user_id=new_number)
    # Both asked to be told when the same product is back (and one more only on the new phone).
    shop_id = chat_stack.stack.shop_id
    variant, other_variant = chat_stack.shop.variant_ids()[:2]
    for contact_id, wanted in ((old.id, variant), (second.id, variant), (second.id, other_variant)):
        subscribe(rt, contact_id=contact_id, shop_connection_id=shop_id, variant_external_id=wanted, source="test")
    record_opt_out(rt, contact_id=second.id, purpose="marketing", source="keyword", text="STOP")

    chat_stack.graph.whatsapp_event(customer.user_id, "number_change", new_wa_id=new_number, name="Kim")
    wait_for(lambda: _contact(chat_stack, id=old.id).channel_user_id == new_number)
    with rt.db.session() as session:
        assert session.get(Contact, second.id) is None
        assert session.scalar(select(func.count()).where(InboundMessage.contact_id == second.id)) == 0
        # The STOP said on the new number holds for the merged contact.
        consent = session.scalars(select(Consent).where(Consent.contact_id == old.id, Consent.purpose == "marketing"))
        assert consent.one().granted is False
        # One alert per product for the merged customer, none lost.
        active = session.execute(
            select(BackInStockSubscription.variant_external_id, BackInStockSubscription.active_key).where(
                BackInStockSubscription.contact_id == old.id, BackInStockSubscription.active_key.is_not(None)
            )
        ).all()
        assert sorted(v for v, _ in active) == sorted([variant, other_variant])
        assert all(key == f"{old.id}:{shop_id}:{v}" for v, key in active)


def test_asking_a_hidden_number_customer_for_their_number_uses_request_contact_info(chat_stack: ChatStack) -> None:
    from connector_whatsapp.contact_request import ContactInfoRequest

    from connector import model
    from connector.errors import PlatformError

    customer = HiddenNumberCustomer(chat_stack, "whatsapp", "4915100007703", "Sheena")
    customer.say("hi")
    adapter = chat_stack.runtime.connections.channel_adapter(chat_stack.stack.channel_id)
    to = model.Contact(channel="whatsapp", channel_user_id=customer.bsuid, phone=customer.bsuid)
    adapter.send(to, ContactInfoRequest(body="Share your number so the courier can call you."))
    sent = chat_stack.graph.messages_to(customer.user_id)[-1]
    assert sent["recipient"] == customer.bsuid
    assert sent["interactive"] == {
        "type": "request_contact_info",
        "body": {"text": "Share your number so the courier can call you."},
        "action": {"name": "request_contact_info"},
    }
    # The name it had until 2026-05-28 is refused now, as WhatsApp does.
    settings = chat_stack.graph.connection_settings()
    old = {**sent, "interactive": {**sent["interactive"], "type": "contact_request"}}
    old.pop("_sandbox", None)
    with pytest.raises(PlatformError, match=r"interactive\.type"):
        adapter.graph.post_json(f"{settings['phone_number_id']}/messages", json=old)

    shared = chat_stack.graph.whatsapp_event(customer.user_id, "contact_share", hide_phone=True)
    customer.replies_to(shared["id"])
    assert _contact(chat_stack, user_id=customer.bsuid).phone == "+4915100007703"


def _signed_post(chat: ChatStack, payload: dict[str, Any]) -> Any:
    import json

    import requests
    from connector_meta.signature import sign

    body = json.dumps(payload, separators=(",", ":")).encode()
    secret = chat.graph.connection_settings()["app_secret"]
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
    return requests.post(chat.stack.channel_webhook_url(), data=body, headers=headers, timeout=10)


def _user_id_update(chat: ChatStack, previous: str, current: str) -> dict[str, Any]:
    """The ``user_id_update`` webhook as platform-changes-2026.md §5 shows it."""
    settings = chat.graph.connection_settings()
    update = {
        "detail": "User ID updated",
        "user_id": {"previous": previous, "current": current},
        "timestamp": int(datetime.now(UTC).timestamp()),
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": settings["phone_number_id"]},
        "user_id_update": [update],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": settings["waba_id"], "changes": [{"field": "user_id_update", "value": value}]}],
    }


def test_a_regenerated_bsuid_moves_the_hidden_number_customer_with_it(chat_stack: ChatStack) -> None:
    customer = HiddenNumberCustomer(chat_stack, "whatsapp", "4915100007704", "Sheena")
    customer.say("hi")
    before = _contact(chat_stack, user_id=customer.bsuid)
    window = before.last_inbound_at
    new_id = "DE.55501234567890123456"
    answer = _signed_post(chat_stack, _user_id_update(chat_stack, customer.bsuid, new_id))
    assert answer.status_code == 200, answer.text
    wait_for(lambda: _contact(chat_stack, id=before.id).user_id == new_id)
    after = _contact(chat_stack, id=before.id)
    assert after.channel_user_id == new_id  # how WhatsApp addresses them now
    assert after.last_inbound_at == window  # an id update is no message from the customer

    # An update for someone we never talked to creates no contact.
    answer = _signed_post(chat_stack, _user_id_update(chat_stack, "DE.11112222333344445555", "DE.6666"))
    assert answer.status_code == 200

    def processed() -> bool:
        with chat_stack.runtime.db.session() as session:
            return session.get(WebhookEvent, answer.json()["id"]).status == "processed"

    wait_for(processed)
    with chat_stack.runtime.db.session() as session:
        assert (
            session.scalar(select(func.count()).where(Contact.user_id.in_(("DE.6666", "DE.11112222333344445555")))) == 0
        )


def test_a_shop_order_with_the_number_a_hidden_number_customer_shared_finds_that_contact(
    chat_stack: ChatStack,
) -> None:
    from connector.notify.contacts import contact_for_phone

    customer = HiddenNumberCustomer(chat_stack, "whatsapp", "4915100007705", "Sheena")
    customer.say("hi")
    shared = chat_stack.graph.whatsapp_event(customer.user_id, "contact_share", hide_phone=True)
    customer.replies_to(shared["id"])
    known = _contact(chat_stack, user_id=customer.bsuid)
    with chat_stack.runtime.db.session() as session:
        found = contact_for_phone(session, chat_stack.stack.shop_id, "+49 151 0000 7705")
        assert found is not None and found.id == known.id  # not a second contact for the same person
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
