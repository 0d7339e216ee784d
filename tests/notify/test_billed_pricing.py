"""What Meta reported, next to what we estimated, over real HTTP: the ``pricing`` of every status webhook stored on
its message, the per-day comparison in ``/api/v1/notifications/costs``, and ``template_category_update`` (Meta
re-categorizes a template) changing the category used for pricing and consent from its effective time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests
from connector_meta.sandbox.events import sign
from sqlalchemy import select

from connector.db.models_pricing import TemplateCategoryChange
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, customer, place_order, rows, settled

AD = {"source_type": "ad", "source_url": "https://fb.me/ad1", "source_id": "120000001"}


def _billed(stack: Stack, kind: str, count: int = 1) -> list[Any]:
    def done() -> list[Any] | None:
        found = rows(stack, kind=kind)
        return found if len(found) >= count and all(r.billed_category for r in found) else None

    return wait_for(done)


def _ship(stack: Stack, phone: str, reference: str) -> None:
    order = place_order(stack, phone, reference)
    stack.shop.ship_order(order.external_id, company="DHL", number=f"T{reference[-6:]}", url="https://dhl.example/t")


def _changes(stack: Stack) -> list[TemplateCategoryChange]:
    with stack.runtime.db.session() as session:
        return list(session.scalars(select(TemplateCategoryChange).order_by(TemplateCategoryChange.id)))


def _today(stack: Stack, api_client: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date().isoformat()
    days = api_client(stack).get("/api/v1/notifications/costs").json()["days"]
    return next(d for d in days if d["day"] == today)


def test_every_status_pricing_is_stored_and_the_day_shows_estimate_reported_and_difference(
    notify_stack: StackFactory, api_client: Any
) -> None:
    # We do not trust the entry point (0 hours): Meta does, so it reports the message free and we see the gap.
    stack = notify_stack(free_entry_point_hours=0)
    ad_customer, plain = "4915100000061", "4915100000062"
    for phone in (ad_customer, plain):
        customer(stack, phone)
    stack.graph.customer_text(None, ad_customer, "From your ad", referral=AD)
    wait_for(lambda: rows(stack, recipient=ad_customer))  # the chat answered
    _ship(stack, ad_customer, "billed-000061")
    _ship(stack, plain, "billed-000062")
    shipped = {r.recipient: r for r in _billed(stack, "order_shipped", count=2)}

    inside = shipped[ad_customer]
    assert inside.category == "service" and inside.cost == 0.055
    assert (inside.billed_category, inside.billed_type, inside.billable) == (
        "referral_conversion",
        "free_entry_point",
        False,
    )
    outside = shipped[plain]
    assert (outside.category, outside.cost) == ("utility", 0.055)
    assert (outside.billed_category, outside.billed_type, outside.billable) == ("utility", "regular", True)

    # The API shows each message's reported pricing ...
    api = api_client(stack)
    shown = api.get(f"/api/v1/notifications/{inside.id}").json()
    assert shown["billed"] == {
        "category": "referral_conversion",
        "type": "free_entry_point",
        "billable": False,
        "pricing_model": "PMP",
    }
    # ... and per day our estimate next to what Meta reported, and the difference.
    wait_for(lambda: all(r.billed_category for r in rows(stack)))
    day = _today(stack, api_client)
    every = rows(stack)
    assert day["messages"] == len(every)
    assert abs(day["estimate"] - sum(r.cost or 0.0 for r in every)) < 1e-9
    assert day["reported"] < day["estimate"]  # Meta billed the ad customer's messages as free
    assert abs(day["difference"] - (day["reported"] - day["estimate"])) < 1e-9
    assert day["difference"] <= -0.055
    assert day["category_mismatches"] >= 1


def test_a_template_meta_recategorized_is_priced_and_consented_as_its_new_category(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack()
    utility_only, marketing_too = "4915100000071", "4915100000072"
    customer(stack, utility_only)
    customer(stack, marketing_too, purposes=("utility", "marketing"))

    # Meta announces it (impending, in an hour): until then the template stays utility.
    announced_for = stack.graph.now() + 3600
    stack.graph.recategorize_template("order_shipped", "MARKETING", at=announced_for)
    wait_for(lambda: _changes(stack))
    [notice] = _changes(stack)
    assert notice.impending and notice.category == "marketing" and notice.previous_category == "utility"
    assert abs(notice.effective_at.timestamp() - int(announced_for)) < 1
    _ship(stack, utility_only, "recat-000001")
    [before] = _billed(stack, "order_shipped")
    assert before.category == "utility" and before.cost == 0.055 and before.billed_category == "utility"

    # Meta completes it now: from now on it is a marketing template.
    stack.graph.recategorize_template("order_shipped", "MARKETING")
    wait_for(lambda: len(_changes(stack)) == 2)
    _ship(stack, utility_only, "recat-000002")
    _ship(stack, marketing_too, "recat-000003")
    later = {r.recipient: r for r in settled(stack, "order_shipped", count=3)[1:]}
    skipped = later[utility_only]
    assert skipped.status == "skipped"
    assert skipped.reason == (
        "template order_shipped was re-categorized as marketing by Meta and there is no opt-in for marketing messages"
    )
    sent = wait_for(
        lambda: next((r for r in rows(stack, recipient=marketing_too, kind="order_shipped") if r.billed_category), None)
    )
    assert sent.category == "marketing" and sent.cost == 0.1365  # Germany's marketing rate
    assert sent.billed_category == "marketing"
    assert len(stack.graph.messages_to(utility_only)) == 1  # only the message sent before the change


def _post(stack: Stack, payload: dict[str, Any]) -> requests.Response:
    body = json.dumps(payload).encode()
    secret = stack.graph.connection_settings()["app_secret"]
    return requests.post(stack.channel_webhook_url(), data=body, headers=sign(body, secret), timeout=10)


def _category_update(value: dict[str, Any]) -> dict[str, Any]:
    change = {"field": "template_category_update", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "time": 1765000000, "changes": [change]}]}


def test_a_malformed_or_forged_category_update_is_refused(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    missing_name = {"message_template_id": 1, "message_template_language": "en_US", "new_category": "MARKETING"}
    answer = _post(stack, _category_update(missing_name))
    assert answer.status_code == 400 and "message_template_name" in answer.text
    no_time = {**missing_name, "message_template_name": "order_shipped", "correct_category": "MARKETING"}
    answer = _post(stack, _category_update(no_time))
    assert answer.status_code == 400 and "category_update_timestamp" in answer.text
    # A valid body with a wrong signature never gets in.
    good = {**missing_name, "message_template_name": "order_shipped", "previous_category": "UTILITY"}
    body = json.dumps(_category_update(good)).encode()
    forged = requests.post(stack.channel_webhook_url(), data=body, headers=sign(body, "not-the-app-secret"), timeout=10)
    assert forged.status_code == 401
    assert _changes(stack) == []


def test_a_status_with_a_malformed_pricing_object_stores_only_what_is_meta_shaped(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    phone = "4915100000101"
    customer(stack, phone)
    _ship(stack, phone, "hostile-000101")
    # Every status the sandbox sends for it has been applied (a later one would store Meta's pricing again).
    [row] = wait_for(lambda: [r for r in rows(stack, kind="order_shipped") if r.status == "read"])
    stack.graph.wait_webhooks()
    pricing = {"billable": "yes", "pricing_model": "P" * 500, "category": {"not": "a string"}, "type": "regular"}
    status = {"id": row.channel_message_id, "status": "read", "timestamp": "1765000000", "recipient_id": phone,
              "pricing": pricing}  # fmt: skip
    number = stack.graph.connection_settings()["phone_number_id"]  # a change for another number is not ours
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": number}, "statuses": [status]}
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
               "value": value}]}]}  # fmt: skip
    assert _post(stack, payload).status_code == 200

    def updated() -> Any:
        [found] = rows(stack, kind="order_shipped")
        return found if found.billed_type == "regular" and found.billable is None else None

    found = wait_for(updated)
    assert found.billed_category is None and found.pricing_model == "P" * 16
