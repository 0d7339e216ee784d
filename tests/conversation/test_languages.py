"""The chat answers in the customer's language: their locale when the contact has one, else the language of their
first message, else the shop's ``[chat] default_language``; money in that language's format. Over real HTTP: the
customer writes through the Graph sandbox, the connector answers through it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, update

from connector.db.models import Contact
from connector.db.models_conversation import ChatOrder
from connector.i18n import formatting

from .conftest import ChatStack, Customer

#: A first message in each language, and words the answer must then carry: the menu's greeting, its list button
#: and heading, the "browse" entry, and the order summary's pay button.
FIRST_WORDS = {
    "en": ("Hello", "What can I do for you?", "Menu", "Browse products", "Pay now"),
    "de": ("Guten Tag", "Wie kann ich helfen?", "Menü", "Produkte ansehen", "Jetzt bezahlen"),
    "fr": ("Bonjour, je cherche une veste", "Que puis-je faire pour vous ?", "Menu", "Voir les produits", "Payer"),
    "es": ("Hola, busco una chaqueta por favor", "¿En qué puedo ayudarle?", "Menú", "Ver productos", "Pagar ahora"),
    "it": ("Ciao, vorrei una giacca", "Come posso aiutarLa?", "Menu", "Sfoglia i prodotti", "Paga ora"),
    "nl": ("Goedemiddag, ik zoek een jas", "Waarmee kan ik u helpen?", "Menu", "Producten bekijken", "Nu betalen"),
    "pt_BR": ("Oi, eu quero uma jaqueta", "Como posso ajudar?", "Menu", "Ver produtos", "Pagar agora"),
}


def _menu(customer: Customer, text: str) -> dict:
    [menu] = customer.say(text)
    assert menu["interactive"]["type"] == "list"
    return menu


def test_each_customer_gets_answers_and_prices_in_the_language_they_write(chat_stack: ChatStack) -> None:
    [item] = chat_stack.in_stock(1)
    for language, (first, greeting, button, browse, pay) in FIRST_WORDS.items():
        customer = chat_stack.whatsapp_customer()
        menu = _menu(customer, first)
        interactive = menu["interactive"]
        assert interactive["body"]["text"].endswith(greeting), language  # after "Hi <name>!" in that language
        assert interactive["action"]["button"] == button, language
        assert interactive["action"]["sections"][0]["title"] == button, language  # the menu's heading
        titles = [row["title"] for row in interactive["action"]["sections"][0]["rows"]]
        assert browse in titles, (language, titles)

        summary = customer.cart({item: 2})[-1]
        text = customer.last_texts([summary])
        assert pay in text, (language, text)
        with chat_stack.runtime.db.session() as session:
            order = session.scalars(select(ChatOrder).order_by(ChatOrder.id.desc())).first()
        assert order is not None
        [line] = order.cart["lines"]
        amount, currency = line["price"]
        total = formatting.money(Decimal(amount) * 2, currency, language)
        assert total in text, (language, total, text)
        if language != "en":
            assert f"{Decimal(amount) * 2:.2f} {currency}" not in text  # never the raw "12.50 EUR"


def test_the_contacts_locale_wins_over_the_words_of_a_message(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    assert _menu(customer, "Hello")["interactive"]["body"]["text"].endswith("What can I do for you?")
    with chat_stack.runtime.db.session() as session:  # as a shop order or a channel that tells the locale sets it
        session.execute(update(Contact).where(Contact.channel_user_id == customer.user_id).values(locale="pt-BR"))
    answer = customer.last_texts(customer.say("qwertzuiop"))
    assert 'Desculpe, não entendi "qwertzuiop".' in answer


@pytest.mark.parametrize("chat_stack", [{"chat": {"default_language": "it"}}], indirect=True)
def test_a_message_in_no_clear_language_gets_the_shops_language(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    answer = customer.last_texts(customer.say("ok"))
    assert "Mi dispiace, non ho capito «ok»." in answer and "Come posso aiutarLa?" in answer
    # a later greeting in another language switches the conversation
    assert _menu(customer, "Bonjour")["interactive"]["body"]["text"].endswith("Que puis-je faire pour vous ?")
