"""My orders, order lookups (never for strangers) and delivery address changes before and after shipping."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.db.models_conversation import ChatOrder
from tests.conversation.conftest import ChatStack, Customer, reply_ids


def buy(chat: ChatStack, customer: Customer) -> ChatOrder:
    items = chat.in_stock(1)
    customer.cart({items[0]: 1})
    with chat.runtime.db.session() as session:
        return session.scalars(
            select(ChatOrder).where(ChatOrder.status == "created").order_by(ChatOrder.id.desc())
        ).first()


@pytest.mark.parametrize(
    ("greeting", "status_word", "refused", "proof_question"),
    [
        ("Hello", "waiting for payment", "doesn't match", "postcode"),
        ("Hallo", "wartet auf Zahlung", "passt leider nicht", "Postleitzahl"),
    ],
)
def test_my_orders_and_a_lookup_by_a_stranger_is_refused(
    chat_stack: ChatStack, greeting: str, status_word: str, refused: str, proof_question: str
) -> None:
    owner = chat_stack.whatsapp_customer("Erika Muster")
    owner.say(greeting)
    order = buy(chat_stack, owner)
    owner.say(greeting)
    mine = owner.last_texts(owner.choose("menu:orders"))
    assert order.order_number in mine and status_word in mine
    # a stranger on WhatsApp asks for the same order number
    stranger = chat_stack.whatsapp_customer("Max Fremd")
    stranger.say(greeting)
    asked = stranger.last_texts(stranger.say(order.order_number))
    assert proof_question in asked and order.payment_url not in asked
    answer = stranger.last_texts(stranger.say("99999"))
    assert refused in answer
    assert status_word not in answer and "EUR" not in answer, "a stranger learns nothing about the order"
    # a stranger on Messenger fares no better, even with a guessed email
    messenger = chat_stack.messenger_customer()
    messenger.say(greeting)
    messenger.say(order.order_number)
    assert refused in messenger.last_texts(messenger.say("someone@example.com"))


def _address_steps(customer: Customer, city: str) -> str:
    for answer in ("Erika Mustermann", "Gartenweg 7", "80331", city):
        customer.say(answer)
    confirm = customer.say("DE")
    assert "addr:yes" in reply_ids(confirm)
    return customer.last_texts(customer.choose("addr:yes"))


@pytest.mark.parametrize(
    ("chat_stack", "greeting", "done", "too_late"),
    [
        ({"shop": "woocommerce"}, "Hello", "Done: order", "already shipped"),
        ({"shop": "shopify"}, "Hallo", "Erledigt: Bestellung", "schon versendet"),
    ],
    indirect=["chat_stack"],
)
def test_address_change_before_shipping_then_too_late_after(
    chat_stack: ChatStack, greeting: str, done: str, too_late: str
) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say(greeting)
    order = buy(chat_stack, customer)
    customer.say(greeting)
    assert order.order_number in customer.last_texts(customer.choose("menu:address"))
    # a wrong postcode for Germany is asked again, not sent to the shop
    for answer in ("Erika Mustermann", "Gartenweg 7", "8033", "Munich"):
        customer.say(answer)
    again = customer.last_texts(customer.say("DE"))
    assert "postcode" in again.lower() or "postleitzahl" in again.lower()
    customer.say("80331")
    assert done in customer.last_texts(customer.choose("addr:yes"))
    shop_order = chat_stack.runtime.connections.shop_adapter(chat_stack.stack.shop_id).get_order(
        order.order_external_id
    )
    assert shop_order.shipping_address is not None
    assert (shop_order.shipping_address.line1, shop_order.shipping_address.postcode) == ("Gartenweg 7", "80331")

    chat_stack.shop.ship_order(order.order_external_id, company="DHL", number="00340434161094042557")
    customer.say(greeting)
    late = customer.choose("menu:address")
    assert too_late in customer.last_texts(late)
    assert "menu:agent" in reply_ids(late), "after shipping a person is offered"
    unchanged = chat_stack.runtime.connections.shop_adapter(chat_stack.stack.shop_id).get_order(order.order_external_id)
    assert unchanged.shipping_address is not None and unchanged.shipping_address.postcode == "80331"


def test_address_change_on_messenger(chat_stack: ChatStack) -> None:
    customer = chat_stack.messenger_customer()
    customer.say("Hello")
    products = customer.choose(next(i for i in reply_ids(customer.choose("menu:browse")) if i.startswith("col:")))
    customer.choose(next(i for i in reply_ids(products) if i.startswith("add:")))
    customer.choose("cart:checkout")
    customer.say("Hello")
    asked = customer.choose("menu:address")
    # Messenger has no forms (WhatsApp Flows): the address is asked step by step
    assert "Who should receive it?" in customer.last_texts(asked)
    assert "Done: order" in _address_steps(customer, "München")
