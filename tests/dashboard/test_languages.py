"""Every dashboard page in every shipped language: headings, states, message kinds, job descriptions, counts,
plugin field labels and money come from the catalogs and Babel, not English left in a German page (real Flask
app on a connected, synced stack; a customer's chat gives the notifications page rows)."""

from __future__ import annotations

import html
import re
from typing import Any

from connector.api import scope
from connector.dashboard import queries, words
from connector.db.models import DEFAULT_WORKSPACE_ID
from connector.i18n import catalogs, formatting
from tests.conftest import wait_for

from .conftest import EMAIL, PASSWORD, Connected, csrf_of

#: Words a reader of each language must find on the pages (checked against the shipped text, not the catalog):
#: the overview's and the jobs page's headings, the plugins page's heading and a built-in plugin's field label.
HEADINGS = {
    "en": ("Overview", "Jobs", "Installed plugins", "Shopify app client ID"),
    "de": ("Übersicht", "Aufgaben", "Installierte Plugins", "Client-ID der Shopify-App"),
    "fr": ("Vue d&#39;ensemble", "Tâches", "Plugins installés", "ID client de l&#39;app Shopify"),
    "es": ("Resumen", "Tareas", "Plugins instalados", "ID de cliente de la app de Shopify"),
    "it": ("Panoramica", "Attività pianificate", "Plugin installati", "ID client dell&#39;app Shopify"),
    "nl": ("Overzicht", "Taken", "Geïnstalleerde plug-ins", "Client-ID van de Shopify-app"),
    "pt_BR": ("Visão geral", "Tarefas", "Plugins instalados", "ID do cliente do app Shopify"),
}


def _client(connected: Connected) -> Any:
    client = connected.live.server.app.test_client()
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post("/dashboard/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _states(page: str) -> list[str]:
    """The visible words of every state badge on a page."""
    found = re.findall(r'<span class="state [^"]*">(.*?)</span>', page, flags=re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", f)).split()) for f in found]


def _reply_status(connected: Connected) -> str | None:
    """The status of the bot's first answer once the Graph sandbox accepted it."""
    from sqlalchemy import select

    from connector.db.models import OutboundMessage

    with connected.live.runtime.db.session() as session:
        found = session.scalar(select(OutboundMessage.status).where(OutboundMessage.kind == "chat_reply"))
    return found if found in ("sent", "delivered", "read") else None


def _untranslated(language: str, word: str) -> bool:
    """Whether ``word`` is an English state code shown as it is although ``language`` has its own word."""
    return word in words.STATES and catalogs.gettext(language, words.STATES[word]) != words.STATES[word]


def test_every_page_reads_in_every_language(connected: Connected) -> None:
    rt = connected.live.runtime
    phone = "4915100000077"
    connected.graph.customer_text(None, phone, "Hello")  # the bot answers: a row on the notifications page
    client = _client(connected)
    wait_for(lambda: _reply_status(connected), timeout=60)

    for language, (overview, jobs, plugins, label) in HEADINGS.items():
        assert client.get(f"/dashboard/lang/{language}").status_code == 302
        page = client.get("/dashboard/").text
        assert f'<html lang="{language.replace("_", "-")}">' in page and f"<h1>{overview}</h1>" in page, language
        states = _states(page)
        assert states, language
        # every state shows in the language's own word (e.g. "synchronisiert 12", not "synced 12")
        english = [s for s in states if _untranslated(language, s.split(" ")[0])]
        assert not english, (language, english)
        with scope.binding(scope.Visibility(DEFAULT_WORKSPACE_ID, operator=True)):  # the page's own view
            cost_today = queries.overview(rt).cost_today
        expected_cost = formatting.money(cost_today, rt.config.dashboard.cost_currency, language)
        assert html.unescape(re.search(r'id="cost-today">(.*?)<', page).group(1)) == expected_cost  # type: ignore[union-attr]

        page = client.get("/dashboard/jobs").text
        assert f"<h1>{jobs}</h1>" in page, language
        description = catalogs.gettext(language, "Incremental catalog sync of {shop}").format(shop="Demo shop")
        assert html.escape(description, quote=True) in page, (language, description)
        minutes = rt.config.sync.delta_interval_minutes
        every = catalogs.ngettext(language, "every {count} minute", "every {count} minutes", minutes)
        every = every.format(count=minutes)
        assert every in page, (language, every)

        page = client.get("/dashboard/plugins").text
        assert plugins in page and label in page, language

        page = client.get("/dashboard/notifications").text
        kind = catalogs.gettext(language, "Chat answer")
        # the Kind cell (labelled by its column for narrow screens) shows the kind in the language
        kind_cell = f'<td data-label="{html.escape(catalogs.gettext(language, "Kind"), quote=True)}">'
        assert f"{kind_cell}{html.escape(kind, quote=True)}</td>" in page, (language, kind)
        # the answer's state moves on (sent, delivered, read) while the test reads: any of them, in the language
        states = _states(page)
        shown = {catalogs.gettext(language, words.STATES[code]) for code in ("sent", "delivered", "read")}
        assert shown & set(states), (language, states)
        assert not [s for s in states if _untranslated(language, s.split(" ")[0])], (language, states)

        page = client.get("/dashboard/catalog").text
        synced = catalogs.gettext(language, "synced")
        assert synced in _states(page), language
        if language != "en":
            assert "synced" not in _states(page)
