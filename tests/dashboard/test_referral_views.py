"""Where chat customers came from, as the shop owner sees it (real Flask app, real sandboxes, no browser).

Customers write through the Graph sandbox's control API exactly as WhatsApp delivers them: from a
Click-to-WhatsApp ad, from a catalog item ("Message business"), or plainly. The contacts page shows each
contact's first referral, the orders page the last touch before the cart, the export keeps the referral.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from connector import model
from connector.api import scope
from connector.dashboard import queries
from connector.db.models import DEFAULT_WORKSPACE_ID, Contact, InboundMessage, ShopVariant
from connector.i18n import formatting
from connector.runtime import Runtime
from connector.serialization import to_json

from .conftest import EMAIL, PASSWORD, Connected, csrf_of, wait_until

AD = {
    "source_url": "https://fb.me/3cr4Wqqkv",
    "source_id": "120212345678901234",
    "source_type": "ad",
    "headline": "Spring sale",
    "body": "Everything 20% off",
    "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0",
}
FROM_AD = "4915100000001"
FROM_PRODUCT = "4915100000002"
PLAIN = "4915100000003"
NONE = "\u2013"  # the dashboard's dash for "nothing"


def logged_in(connected: Connected) -> Any:
    client = connected.live.server.app.test_client()
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post("/dashboard/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 302
    return client


def rows(page: str, row_class: str) -> list[str]:
    """The visible text of each table row of that class, tags stripped, whitespace collapsed."""
    found = re.findall(rf'<tr class="{row_class}">(.*?)</tr>', page, flags=re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in found]


def cell(page: str, row_class: str, cell_class: str, containing: str) -> str:
    """The text of one cell in the row that mentions ``containing``."""
    for row in re.findall(rf'<tr class="{row_class}">(.*?)</tr>', page, flags=re.S):
        if containing in row:
            match = re.search(rf'<td class="{cell_class}"[^>]*>(.*?)</td>', row, flags=re.S)
            assert match, f"no {cell_class} cell"
            return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())
    raise AssertionError(f"no {row_class} mentions {containing}")


def test_contacts_and_orders_show_where_customers_came_from(connected: Connected) -> None:
    graph = connected.graph
    rt = connected.live.runtime
    retailer_id = next(
        i["id"]
        for i in graph.catalog_items(graph.connection_settings()["catalog_id"])
        if i["availability"] == "in stock"
    )
    graph.customer_text(None, FROM_AD, "Hello", name="Ada Ad", referral=AD)
    graph.customer_text(
        None, FROM_PRODUCT, "Is this available in blue?", name="Pia Product", referred_product=retailer_id
    )
    graph.customer_cart(None, FROM_PRODUCT, [(retailer_id, 2)])
    graph.customer_text(None, PLAIN, "Hi", name="Paul Plain")
    graph.wait_webhooks()

    def stored() -> bool:
        with rt.db.session() as session:
            carts = session.scalar(
                select(func.count()).select_from(InboundMessage).where(InboundMessage.type == "InboundCart")
            )
            contacts = session.scalar(select(func.count()).select_from(Contact))
        return carts == 1 and contacts == 3

    wait_until(stored)
    with rt.db.session() as session:
        variant = session.scalars(select(ShopVariant).where(ShopVariant.external_id == retailer_id)).one()
        ad_contact = session.scalar(select(Contact.id).where(Contact.channel_user_id == FROM_AD))
    today = formatting.day(datetime.now(UTC), "en")  # the viewer's language and time zone (UTC here): "Dec 7, 2026"
    client = logged_in(connected)

    contacts = client.get("/dashboard/contacts").text
    assert "Came from" in contacts
    assert cell(contacts, "contact-row", "came-from", FROM_AD) == f"Ad: Spring sale (ad 12021234…) on {today}"
    assert cell(contacts, "contact-row", "came-from", FROM_PRODUCT) == (
        f"Product: {variant.title} ({variant.sku or variant.external_id}) on {today}"
    )
    assert cell(contacts, "contact-row", "came-from", PLAIN) == NONE
    # the full ad id and click id are one hover away
    assert f'title="source: ad; id: {AD["source_id"]}; url: {AD["source_url"]}; ctwa_clid: {AD["ctwa_clid"]}"' in (
        contacts
    )

    orders = client.get("/dashboard/orders").text
    [order] = rows(orders, "order-row")
    assert f"2 \u00d7 {variant.title}" in order  # the product by name (it was its id), its id one hover away
    assert cell(orders, "order-row", "source", retailer_id) == (
        f"Product: {variant.title} ({variant.sku or variant.external_id}) on {today}"
    )

    assert client.get("/dashboard/lang/de").status_code in (302, 303)
    contacts_de = client.get("/dashboard/contacts").text
    assert "Herkunft" in contacts_de
    assert (
        cell(contacts_de, "contact-row", "came-from", FROM_AD)
        == f"Anzeige: Spring sale (ad 12021234…) am {formatting.day(datetime.now(UTC), 'de')}"
    )
    assert cell(contacts_de, "contact-row", "came-from", PLAIN) == NONE
    orders_de = client.get("/dashboard/orders").text
    assert "letzter Kontakt, 7 Tage" in orders_de
    assert cell(orders_de, "order-row", "source", retailer_id).startswith(f"Produkt: {variant.title} (")

    # the export holds the referral as stored, ad click id included
    export = client.get(f"/dashboard/contacts/{ad_contact}/export.json").get_json()
    [message] = export["inbound_messages"]
    assert message["data"]["referral"]["headline"] == "Spring sale"
    assert message["data"]["referral"]["ad_click_id"] == AD["ctwa_clid"]


def _store(rt: Runtime, contact_id: int, channel_id: int, message: model.Inbound, at: datetime) -> int:
    """A customer message stored as the webhook processing stores it (canonical JSON)."""
    with rt.db.session() as session:
        row = InboundMessage(
            channel_connection_id=channel_id,
            contact_id=contact_id,
            message_id=message.message_id,
            type=type(message).__name__,
            data=to_json(message),
            received_at=at,
        )
        session.add(row)
        session.flush()
        return row.id


def test_last_touch_attribution_within_seven_days_on_sqlite_and_postgres(database_url: str, plugins: Any) -> None:
    """Latest referral up to the cart, at most 7 days old; the contact's first referral stays its origin.

    Runs on both databases: the pre-filter matches the JSON text, which each stores in its own way."""
    from connector.db.migrate import upgrade
    from tests.conftest import add_channel, make_config

    rt = Runtime(make_config(database_url), plugins=plugins)
    upgrade(rt.db)
    try:
        with rt.db.session() as session:
            channel = add_channel(session)
            people = [Contact(channel_connection_id=channel.id, channel_user_id=f"49151000{n}") for n in range(2)]
            session.add_all(people)
            session.flush()
            channel_id, (first, second) = channel.id, [p.id for p in people]
        now = datetime.now(UTC).replace(microsecond=0)
        sender = model.Contact(channel="whatsapp", channel_user_id="491510000")

        def text(mid: str, referral: model.Referral | None = None, body: str = "hi") -> model.InboundText:
            return model.InboundText(message_id=mid, sender=sender, text=body, referral=referral)

        def cart(mid: str) -> model.InboundCart:
            return model.InboundCart(message_id=mid, sender=sender, lines=[model.CartLine("7", 1)])

        ad = model.Referral(source_type="ad", source_id="42", headline="Autumn", ad_click_id="c1")
        link = model.Referral(source_type="SHORTLINK", ref="newsletter")
        later = model.Referral(source_type="SHORTLINK", ref="after-the-order")
        _store(rt, first, channel_id, text("a", ad), now - timedelta(days=10))
        # a customer quoting the JSON key in their text is no referral
        _store(rt, first, channel_id, text("b", body='"referral": {"ref": "fake"}'), now - timedelta(days=3))
        _store(rt, first, channel_id, text("c", link), now - timedelta(days=2))
        recent_cart = _store(rt, first, channel_id, cart("d"), now - timedelta(days=1))
        _store(rt, first, channel_id, text("e", later), now - timedelta(hours=1))
        # the second contact's only referral is 8 days older than their cart: outside the window
        _store(rt, second, channel_id, text("f", ad), now - timedelta(days=9))
        stale_cart = _store(rt, second, channel_id, cart("g"), now - timedelta(days=1))

        # The page queries show what a user may see: here, the owner of the (only) default workspace.
        with scope.binding(scope.Visibility(DEFAULT_WORKSPACE_ID, operator=True)):
            orders, contacts = queries.orders(rt), queries.contacts(rt)
        sources = {row["message"].id: row["source"] for row in orders.rows}
        assert sources[recent_cart] is not None
        assert (sources[recent_cart].kind, sources[recent_cart].text) == ("Link", "ref=newsletter")
        assert sources[stale_cart] is None

        came_from = {row["contact"].id: row["came_from"] for row in contacts.rows}
        assert (came_from[first].kind, came_from[first].text) == ("Ad", "Autumn (ad 42)")
        assert came_from[first].received_at == now - timedelta(days=10)
        assert came_from[second].kind == "Ad"
    finally:
        rt.close()


def test_sandbox_helpers_send_referrals_as_meta_does(plugins: Any) -> None:
    """The typed helpers put the referral where Meta does and get the control API's checks."""
    with plugins.sandboxes()["graph"]() as graph:
        link = {"ref": "newsletter", "source": "SHORTLINK", "type": "OPEN_THREAD"}
        event = graph.messenger_text("7002000000001", "Hi", referral=link)
        assert event["message"]["text"] == "Hi" and event["message"]["referral"] == link
        ad = {"ref": "spring", "source": "ADS", "type": "OPEN_THREAD", "ad_id": "6045246247433"}
        opened = graph.messenger_referral("7002000000001", ad)
        assert opened["referral"] == ad and "message" not in opened
        assert graph.customer_text(None, FROM_AD, "Hello", referral=AD).startswith("wamid.")
        with pytest.raises(requests.HTTPError) as refused:
            graph.customer_text(None, FROM_PRODUCT, "Blue?", referred_product="no-such-item")
        assert refused.value.response.status_code == 400
        assert "not in catalog" in refused.value.response.json()["error"]
