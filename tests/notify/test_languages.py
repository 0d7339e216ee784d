"""Notifications in the customer's language (their locale, else ``[notify] default_language``), translated by the
gettext catalogs, money written the locale's way, and an owner's own text for one language still winning."""

from __future__ import annotations

from pathlib import Path

from connector.conversation import texts
from connector.i18n import formatting
from connector.notify.render import Renderer
from connector.runtime import Runtime
from tests.conftest import make_config, wait_for

from .conftest import StackFactory, customer, place_order, rows, settled

#: A customer's locale as a shop or channel reports it, and the shipping notice's opening words and button.
SHIPPED = {
    "en_GB": ("Good news Erika: your order", "Track parcel"),
    "de_DE": ("Gute Nachricht, Erika: Ihre Bestellung", "Sendung verfolgen"),
    "fr_FR": ("Bonne nouvelle Erika : votre commande", "Suivre le colis"),
    "es_ES": ("Buenas noticias, Erika: su pedido", "Seguir el paquete"),
    "it_IT": ("Buone notizie, Erika: il Suo ordine", "Traccia il pacco"),
    "nl_NL": ("Goed nieuws, Erika: uw bestelling", "Pakket volgen"),
    "pt_BR": ("Boa notícia, Erika: seu pedido", "Rastrear pacote"),
}


def test_each_customer_gets_the_shipping_notice_in_their_language(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    phones = {locale: f"49151000001{n:02d}" for n, locale in enumerate(SHIPPED)}
    for locale, phone in phones.items():
        customer(stack, phone, locale=locale)
        stack.graph.customer_text(None, phone, "ok")  # opens the 24-hour window: a free-form message, our text
    wait_for(lambda: all(_window_open(stack, phone) for phone in phones.values()))
    for locale, phone in phones.items():
        order = place_order(stack, phone, f"lang-{locale}")
        stack.shop.ship_order(order.external_id, company="DHL", number=f"TRK{phone[-4:]}", url="https://dhl.example/t")
    settled(stack, "order_shipped", count=len(phones), timeout=60)
    for locale, (opening, button) in SHIPPED.items():
        phone = phones[locale]
        [notice] = [m for m in stack.graph.messages_to(phone) if m.get("interactive", {}).get("type") == "cta_url"]
        body = notice["interactive"]["body"]["text"]
        assert body.startswith(opening), (locale, body)
        assert "DHL" in body and f"TRK{phone[-4:]}" in body
        assert notice["interactive"]["action"]["parameters"]["display_text"] == button
    languages = {r.recipient: r.notification["language"] for r in rows(stack, kind="order_shipped")}
    assert languages[phones["pt_BR"]] == "pt_BR" and languages[phones["de_DE"]] == "de"


def _window_open(stack: object, phone: str) -> bool:
    from sqlalchemy import select

    from connector.db.models import Contact

    with stack.runtime.db.session() as session:  # type: ignore[attr-defined]
        return session.scalar(select(Contact.last_inbound_at).where(Contact.channel_user_id == phone)) is not None


def test_an_order_confirmation_writes_the_total_the_languages_way(runtime: Runtime) -> None:
    renderer = Renderer.for_runtime(runtime)
    expected = {
        "en": "Hi Erika, thank you for your order 1001 (€1,049.90).",
        "de": "Hallo Erika, vielen Dank für Ihre Bestellung 1001 (1.049,90\xa0€).",
        "fr": "Bonjour Erika, merci pour votre commande 1001 (1\u202f049,90\xa0€).",
        "es": "Hola, Erika: gracias por su pedido 1001 (1.049,90\xa0€).",
        "it": "Salve Erika, grazie per il Suo ordine 1001 (1.049,90\xa0€).",
        "nl": "Hallo Erika, bedankt voor uw bestelling 1001 (€\xa01.049,90).",
        "pt_BR": "Olá, Erika, obrigado pelo seu pedido 1001 (€\xa01.049,90).",
    }
    variables = {"name": "Erika", "number": "1001", "total": "1049.90", "currency": "EUR"}
    for language, opening in expected.items():
        body = renderer.render("order_confirmed", "whatsapp", language, variables)["body"]
        assert body.startswith(opening), (language, body)
        assert formatting.money("1049.90", "EUR", language) in body


def test_an_owner_text_for_one_language_wins_and_the_others_stay_translated(tmp_path: Path, plugins: object) -> None:
    owner = tmp_path / "texts"
    (owner / "order_shipped").mkdir(parents=True)
    (owner / "order_shipped" / "default.fr.j2").write_text(
        "{% block body %}Votre colis {{ number }} est parti, merci !{% endblock %}\n"
        "{% block button %}Où est-il ?{% endblock %}\n",
        encoding="utf-8",
    )
    (owner / "chat" / "menu_body").mkdir(parents=True)
    (owner / "chat" / "menu_body" / "default.fr.j2").write_text("Bienvenue chez nous !", encoding="utf-8")
    config = make_config(
        f"sqlite:///{tmp_path / 'connector.db'}",
        notify={"template_dir": str(owner)},
        chat={"template_dirs": [str(owner)]},
    )
    rt = Runtime(config, plugins=plugins)  # type: ignore[arg-type]
    try:
        renderer = Renderer.for_runtime(rt)
        variables = {"name": "", "number": "1001", "carrier": "", "tracking_number": ""}
        assert renderer.render("order_shipped", "whatsapp", "fr", variables) == {
            "body": "Votre colis 1001 est parti, merci !",
            "button": "Où est-il ?",
        }
        german = renderer.render("order_shipped", "whatsapp", "de", variables)
        assert (
            german["body"].startswith("Gute Nachricht: Ihre Bestellung 1001")
            and german["button"] == "Sendung verfolgen"
        )
        assert texts.render(rt, "menu_body", "fr", name="") == "Bienvenue chez nous !"
        assert texts.render(rt, "menu_body", "it", name="") == "Come posso aiutarLa?"
        assert texts.render(rt, "menu_body", "de", name="Erika") == "Hallo Erika! Wie kann ich helfen?"
    finally:
        rt.close()
