"""The Graph sandbox as Meta's own client libraries see it: pywa (current major) for WhatsApp and
facebook-business for the catalog, unpatched; only where their requests go is changed.

Each test drives the sandbox the way the connector does (every message type we send, read receipts, typing
indicators, templates, every webhook the sandbox emits, catalog batches) and asserts what a bot author would see:
calls that succeed, updates their handlers receive, errors raised as the library's documented exception types.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import requests
from connector_meta.sandbox import GraphSandbox
from facebook_business.adobjects.productcatalog import ProductCatalog
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from flask import Flask
from pywa import WhatsApp, errors
from pywa import types as wa_types
from pywa.handlers import (
    CallbackButtonHandler,
    CallbackSelectionHandler,
    MessageHandler,
    MessageStatusHandler,
    RawUpdateHandler,
)
from pywa.types.templates import BodyText, HeaderImage, QuickReplyButton, TemplateLanguage, URLButton

from tests.conformance.conftest import CUSTOMER, PRODUCTS, Inbox, ToSandbox, wait_until


@pytest.fixture
def bot(sandbox: GraphSandbox, settings: dict[str, Any], serve: Any) -> SimpleNamespace:
    """A pywa bot: its own Flask webhook endpoint (challenge + signature check by pywa), subscribed the way Meta
    subscribes a callback URL, with handlers that keep every update."""
    app = Flask("pywa-bot")
    inbox = Inbox()
    wa = WhatsApp(
        phone_id=settings["phone_number_id"],
        token=settings["access_token"],
        session=httpx.Client(transport=ToSandbox(settings["graph_url"])),
        server=app,
        webhook_endpoint="/whatsapp",
        verify_token=settings["verify_token"],
        app_secret=settings["app_secret"],
        waba_id=settings["waba_id"],
        api_version=settings["api_version"].lstrip("v"),
    )
    wa.add_handlers(
        MessageHandler(inbox.add),
        CallbackButtonHandler(inbox.add),
        CallbackSelectionHandler(inbox.add),
        MessageStatusHandler(inbox.add),
        RawUpdateHandler(inbox.add),
    )
    url = serve(app) + "/whatsapp"
    sandbox.subscribe_webhooks(url, object="whatsapp_business_account", verify_token=settings["verify_token"])
    return SimpleNamespace(wa=wa, inbox=inbox, url=url)


def _customer_writes(sandbox: GraphSandbox, bot: SimpleNamespace, text: str) -> wa_types.Message:
    wamid = sandbox.customer_text(None, CUSTOMER, text, name="Ada")
    return bot.inbox.wait_for(lambda u: isinstance(u, wa_types.Message) and u.id == wamid)


# ----------------------------------------------------------------------------------------- WhatsApp: sending


def test_pywa_sends_every_message_type_the_connector_sends(
    sandbox: GraphSandbox, bot: SimpleNamespace, catalog: ProductCatalog, settings: dict[str, Any]
) -> None:
    wa: WhatsApp = bot.wa
    _customer_writes(sandbox, bot, "hi")
    catalog_id = settings["catalog_id"]
    sent = [
        wa.send_message(CUSTOMER, "Welcome to Nordkind!"),
        wa.send_message(
            CUSTOMER,
            "What would you like to do?",
            header="Menu",
            footer="Nordkind",
            buttons=[
                wa_types.Button(title="Browse", callback_data="browse"),
                wa_types.Button(title="My orders", callback_data="orders"),
            ],
        ),
        wa.send_message(
            CUSTOMER,
            "Pick a collection",
            buttons=wa_types.SectionList(
                "Collections",
                sections=[
                    wa_types.Section(
                        "Shirts",
                        rows=[wa_types.SectionRow(title="Linen", callback_data="col-1", description="Light shirts")],
                    )
                ],
            ),
        ),
        wa.send_product(CUSTOMER, catalog_id=catalog_id, sku="shirt-1", body="Our bestseller"),
        wa.send_products(
            CUSTOMER,
            catalog_id=catalog_id,
            product_sections=[wa_types.ProductsSection("Shirts", skus=PRODUCTS)],
            title="Linen shirts",
            body="Two shirts for summer",
        ),
        wa.send_image(CUSTOMER, "https://images.example.com/shirt-1.jpg", caption="Shirt 1"),
        wa.send_template(
            CUSTOMER,
            "back_in_stock",
            TemplateLanguage.ENGLISH_US,
            params=[
                HeaderImage.params(image="https://images.example.com/shirt-1.jpg"),
                BodyText.params("Linen shirt"),
                QuickReplyButton.params(callback_data="stop-alerts", index=0),
            ],
        ),
        wa.send_template(
            CUSTOMER,
            "order_shipped",
            TemplateLanguage.ENGLISH_US,
            params=[BodyText.params("Ada", "#1001", "DHL"), URLButton.params(url_variable="JJD0001", index=0)],
        ),
    ]
    assert all(message.id.startswith("wamid.") for message in sent)
    received = {m["_sandbox"]["id"]: m for m in sandbox.messages_to(CUSTOMER)}
    kinds = [(received[m.id]["type"], (received[m.id].get("interactive") or {}).get("type")) for m in sent]
    assert kinds == [
        ("text", None),
        ("interactive", "button"),
        ("interactive", "list"),
        ("interactive", "product"),
        ("interactive", "product_list"),
        ("image", None),
        ("template", None),
        ("template", None),
    ]
    # The customer taps the template's quick reply: the bot gets pywa's CallbackButton with its payload.
    sandbox.customer_press_button(None, CUSTOMER, "Stop alerts")
    pressed = bot.inbox.wait_for(lambda u: isinstance(u, wa_types.CallbackButton))
    assert pressed.data == "stop-alerts"


def test_pywa_marks_read_and_shows_typing(sandbox: GraphSandbox, bot: SimpleNamespace) -> None:
    first = _customer_writes(sandbox, bot, "hello")
    second = _customer_writes(sandbox, bot, "do you ship to Austria?")
    assert second.mark_as_read().success
    seen = {m["id"]: m for m in sandbox.whatsapp_received(CUSTOMER)}
    # Marking a message read marks the earlier ones of the chat read too; nobody is typing yet.
    assert seen[first.id]["read"] and seen[second.id]["read"]
    assert not seen[second.id]["typing"]
    assert second.indicate_typing().success
    assert next(m for m in sandbox.whatsapp_received(CUSTOMER) if m["id"] == second.id)["typing"]
    second.reply("Yes, we ship to Austria.")
    # The answer hides the indicator, as on WhatsApp.
    assert not next(m for m in sandbox.whatsapp_received(CUSTOMER) if m["id"] == second.id)["typing"]


def test_pywa_reply_goes_to_the_business_scoped_user_id(sandbox: GraphSandbox, bot: SimpleNamespace) -> None:
    message = _customer_writes(sandbox, bot, "hi")
    assert message.from_user.bsuid.startswith("DE.")
    assert message.from_user.wa_id == CUSTOMER
    reply = message.reply("Hallo Ada!")  # pywa prefers the BSUID: sends with "recipient", not "to"
    assert reply.id in {m["_sandbox"]["id"] for m in sandbox.messages_to(CUSTOMER)}


# ----------------------------------------------------------------------------------------- WhatsApp: webhooks


def test_pywa_parses_every_webhook_the_sandbox_sends(
    sandbox: GraphSandbox, bot: SimpleNamespace, catalog: ProductCatalog
) -> None:
    inbox: Inbox = bot.inbox
    message = _customer_writes(sandbox, bot, "hi")
    assert message.text == "hi"
    assert message.from_user.name == "Ada"
    bsuid = message.from_user.bsuid
    # Statuses of our answer: sent, delivered, read, each naming the customer.
    answer = bot.wa.send_message(
        CUSTOMER,
        "Choose",
        buttons=wa_types.SectionList(
            "Open", sections=[wa_types.Section("S", rows=[wa_types.SectionRow(title="Row", callback_data="r1")])]
        ),
    )
    for status in ("sent", "delivered", "read"):
        update = inbox.wait_for(
            lambda u, s=status: isinstance(u, wa_types.MessageStatus) and u.id == answer.id and u.status.value == s
        )
        assert update.from_user.bsuid == bsuid
        assert update.pricing is not None
    sandbox.customer_pick_row(None, CUSTOMER, "r1")
    picked = inbox.wait_for(lambda u: isinstance(u, wa_types.CallbackSelection))
    assert picked.data == "r1"
    buttons = bot.wa.send_message(CUSTOMER, "Sure?", buttons=[wa_types.Button(title="Yes", callback_data="yes")])
    sandbox.customer_press_button(None, CUSTOMER, "yes")
    pressed = inbox.wait_for(lambda u: isinstance(u, wa_types.CallbackButton) and u.data == "yes")
    assert pressed.reply_to_message.id == buttons.id
    cart = sandbox.customer_cart(None, CUSTOMER, {"shirt-1": 2})
    order = inbox.wait_for(lambda u: isinstance(u, wa_types.Message) and u.id == cart["id"])
    assert [(p.sku, p.quantity) for p in order.order.products] == [("shirt-1", 2)]
    where = sandbox.customer_location(None, CUSTOMER, 52.52, 13.40, name="Home")
    located = inbox.wait_for(lambda u: isinstance(u, wa_types.Message) and u.id == where["id"])
    assert (located.location.latitude, located.location.longitude) == (52.52, 13.40)


def test_pywa_receives_a_failed_status(sandbox: GraphSandbox, bot: SimpleNamespace) -> None:
    # Meta documents failed statuses without contacts[] (2026); pywa 4.5's MessageStatus parser wants them, so a bot
    # reads failures from the raw update, with pywa's own error type. The sandbox sends what Meta documents.
    _customer_writes(sandbox, bot, "hi")
    sandbox.set_options(failing_recipients=[CUSTOMER], status_fail_code=131049)
    sent = bot.wa.send_message(CUSTOMER, "A message that will not arrive")

    def failed(update: Any) -> bool:
        statuses = (isinstance(update, wa_types.RawUpdate) and update.value.get("statuses")) or []
        return any(s["id"] == sent.id and s["status"] == "failed" for s in statuses)

    update = bot.inbox.wait_for(failed)
    [status] = update.value["statuses"]
    assert "contacts" not in update.value and "recipient_user_id" not in status
    error = errors.WhatsAppError.from_dict(status["errors"][0])
    assert isinstance(error, errors.MessageUndeliverableDueToHealthyEcosystemEngagement)


def test_pywa_refuses_a_webhook_with_a_wrong_signature(bot: SimpleNamespace, settings: dict[str, Any]) -> None:
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    forged = requests.post(bot.url, data=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}, timeout=10)
    assert forged.status_code in (401, 403)


# ----------------------------------------------------------------------------------------- WhatsApp: templates


def test_pywa_lists_templates_page_by_page(sandbox: GraphSandbox, bot: SimpleNamespace) -> None:
    sandbox.add_template("order_ready", "Hi {{name}}, order {{order}} is ready.", category="UTILITY")
    # Page by page with the cursors (pywa 4.5's own Result.next() is broken for templates: it passes an argument
    # TemplatesResult does not take).
    page = bot.wa.get_templates(pagination=wa_types.Pagination(limit=2))
    names = [t.name for t in page]
    assert len(names) == 2 and page.has_next and not page.has_previous
    while page.has_next:
        page = bot.wa.get_templates(pagination=wa_types.Pagination(limit=2, after=page.after))
        names += [t.name for t in page]
    assert page.has_previous
    assert sorted(names) == ["back_in_stock", "hello_world", "order_ready", "order_shipped"]
    assert page.total_count == 4
    formats = {t.name: t.parameter_format.value for t in bot.wa.get_templates()}
    assert formats["order_ready"] == "NAMED" and formats["order_shipped"] == "POSITIONAL"


# ----------------------------------------------------------------------------------------- WhatsApp: errors


def test_pywa_raises_its_documented_errors(sandbox: GraphSandbox, bot: SimpleNamespace) -> None:
    with pytest.raises(errors.ReEngagementMessage) as outside_window:
        bot.wa.send_message("4915199999999", "Nobody wrote to us from this number")
    assert outside_window.value.code == 131047
    _customer_writes(sandbox, bot, "hi")
    with pytest.raises(errors.WhatsAppError) as bad:
        bot.wa.send_message(CUSTOMER, "x" * 5000)
    assert bad.value.code == 131009 and "4096" in (bad.value.details or "")
    with pytest.raises(errors.WhatsAppError) as invalid:
        bot.wa.mark_message_as_read("wamid.not-ours")
    assert invalid.value.code == 100
    assert invalid.value.message == "(#100) Invalid parameter"


# ----------------------------------------------------------------------------------------- catalog


def test_facebook_business_runs_catalog_batches(catalog: ProductCatalog, fb_api: FacebookAdsApi) -> None:
    products = catalog.get_products(fields=["retailer_id", "name", "price"], params={"limit": 1})
    retailer_ids = [p["retailer_id"] for p in products]  # the SDK's cursor follows paging.next
    assert sorted(retailer_ids) == PRODUCTS
    # One good update and one new item without its required fields: the good one is applied, the other reported.
    mixed = [
        {"method": "UPDATE", "data": {"id": "shirt-2", "price": "39.90 EUR"}},
        {"method": "UPDATE", "data": {"id": "shirt-3"}},
    ]
    answer = catalog.create_items_batch(params={"item_type": "PRODUCT_ITEM", "requests": mixed})
    assert [v["retailer_id"] for v in answer["validation_status"]] == ["shirt-3"]
    status = wait_until(
        lambda: catalog.get_check_batch_request_status(params={"handle": answer["handles"][0]})[0],
        lambda s: s["status"] == "finished",
    )
    assert status["ids_of_invalid_requests"] == ["shirt-3"]
    with pytest.raises(FacebookRequestError) as unknown:
        ProductCatalog("123456789", api=fb_api).get_products()
    assert unknown.value.api_error_code() == 100
