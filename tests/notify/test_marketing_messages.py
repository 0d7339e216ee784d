"""The Marketing Messages API for WhatsApp over real HTTP: back-in-stock alerts go through
``/<PHONE_NUMBER_ID>/marketing_messages`` (with ``product_policy`` and the template's time-to-live) once the
connection enables it and the account is onboarded, are reported as ``marketing_lite``, and go through
``/messages`` as before otherwise. The Graph sandbox refuses what Meta refuses there."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, rows
from tests.notify.test_back_in_stock import BIS_TEMPLATE, _sold_out_variant, _subscribers, _with_template

MM_SETTINGS = {"marketing_messages_api": True, "marketing_ttl_seconds": 86400}


def _enable(stack: Stack, **settings: Any) -> None:
    stack.runtime.connections.update_settings("channel", stack.channel_id, {**MM_SETTINGS, **settings})


def _alerts(stack: Stack, count: int) -> list[Any]:
    def done() -> list[Any] | None:
        found = rows(stack, kind="back_in_stock")
        return found if len(found) >= count and all(r.billed_category for r in found) else None

    return wait_for(done)


def _template(stack: Stack, name: str) -> dict[str, Any]:
    settings = stack.graph.connection_settings()
    answer = requests.get(
        f"{settings['graph_url']}/{settings['api_version']}/{settings['waba_id']}/message_templates",
        params={"name": name},
        headers={"Authorization": f"Bearer {settings['access_token']}"},
        timeout=10,
    ).json()
    [template] = answer["data"]
    return template


def test_onboarded_back_in_stock_goes_through_the_marketing_messages_api(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE)
    stack.graph.set_options(marketing_messages_onboarding_status="ONBOARDED")
    _enable(stack)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    [phone] = _subscribers(stack, variant, 1)
    stack.shop.set_stock(variant, 3)

    [alert] = _alerts(stack, 1)
    assert alert.category == "marketing" and alert.cost == 0.1365
    assert (alert.billed_category, alert.billed_type, alert.billable) == ("marketing_lite", "regular", True)
    [sent] = stack.graph.messages_to(phone)
    assert sent["type"] == "template" and sent["product_policy"] == "CLOUD_API_FALLBACK"
    assert stack.graph.stats()["marketing_messages"]["accepted"] == 1
    # The template carries the time-to-live, so WhatsApp drops an alert it could not deliver in time.
    assert _template(stack, "bis_text")["message_send_ttl_seconds"] == 86400


def test_not_onboarded_or_not_enabled_goes_through_messages_as_before(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE)
    _enable(stack, marketing_product_policy="STRICT")  # enabled, but the account has not signed the terms
    _with_template(stack)
    variant = _sold_out_variant(stack)
    [phone] = _subscribers(stack, variant, 1)
    stack.shop.set_stock(variant, 3)

    [alert] = _alerts(stack, 1)
    assert alert.billed_category == "marketing"
    [sent] = stack.graph.messages_to(phone)
    assert "product_policy" not in sent
    assert stack.graph.stats()["marketing_messages"]["accepted"] == 0
    assert "message_send_ttl_seconds" not in _template(stack, "bis_text")


def test_a_utility_template_never_goes_through_the_marketing_messages_api(notify_stack: StackFactory) -> None:
    from tests.notify.conftest import customer, place_order, settled

    stack = notify_stack()
    stack.graph.set_options(marketing_messages_onboarding_status="ONBOARDED")
    _enable(stack)
    phone = "4915100000081"
    customer(stack, phone)
    order = place_order(stack, phone, "mm-utility")
    stack.shop.ship_order(order.external_id, company="DHL", number="TRK81", url="https://dhl.example/t")
    [row] = settled(stack, "order_shipped")
    assert row.status in ("sent", "delivered", "read")
    [sent] = stack.graph.messages_to(phone)
    assert "product_policy" not in sent


# --------------------------------------------------------------------------- what the sandbox refuses


def _mm_send(stack: Stack, body: dict[str, Any]) -> requests.Response:
    settings = stack.graph.connection_settings()
    url = f"{settings['graph_url']}/{settings['api_version']}/{settings['phone_number_id']}/marketing_messages"
    headers = {"Authorization": f"Bearer {settings['access_token']}"}
    return requests.post(url, json=body, headers=headers, timeout=10)


def _template_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "4915100000091",
        "type": "template",
        "template": {"name": name, "language": {"code": "en_US"}, "components": []},
        **extra,
    }


@pytest.fixture
def onboarded(notify_stack: StackFactory) -> Stack:
    stack = notify_stack()
    stack.graph.set_options(marketing_messages_onboarding_status="ONBOARDED")
    stack.graph.add_template("winter_sale", "Our winter sale has started.", category="MARKETING")
    return stack


def test_the_sandbox_sends_a_marketing_template_and_answers_like_meta(onboarded: Stack) -> None:
    answer = _mm_send(onboarded, _template_body("winter_sale", product_policy="CLOUD_API_FALLBACK"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["contacts"] == [{"input": "4915100000091", "wa_id": "4915100000091"}]
    assert body["messages"][0]["message_status"] == "accepted"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (_template_body("hello_world"), "marketing templates only"),  # a utility template
        ({**_template_body("winter_sale"), "type": "text", "text": {"body": "Hi"}}, "must be a template"),
        (_template_body("winter_sale", product_policy="SOMETIMES"), "product_policy"),
        (_template_body("winter_sale", message_activity_sharing="yes"), "message_activity_sharing"),
    ],
)
def test_the_sandbox_refuses_what_meta_refuses(onboarded: Stack, body: dict[str, Any], why: str) -> None:
    answer = _mm_send(onboarded, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 100 and why in error["error_data"]["details"] + error["message"]


def test_the_sandbox_refuses_an_account_not_onboarded(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    stack.graph.add_template("winter_sale", "Our winter sale has started.", category="MARKETING")
    answer = _mm_send(stack, _template_body("winter_sale", product_policy="STRICT"))
    assert answer.status_code == 400 and "not onboarded" in answer.text


def test_template_time_to_live_is_checked_against_its_category(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    settings = stack.graph.connection_settings()
    base = f"{settings['graph_url']}/{settings['api_version']}"
    headers = {"Authorization": f"Bearer {settings['access_token']}"}
    created = requests.post(
        f"{base}/{settings['waba_id']}/message_templates",
        json={"name": "flash", "language": "en_US", "category": "MARKETING", "message_send_ttl_seconds": 3600,
              "components": [{"type": "BODY", "text": "Flash sale"}]},
        headers=headers,
        timeout=10,
    )  # fmt: skip
    assert created.status_code == 400 and "43200" in created.text  # marketing: 12 hours at least
    template_id = _template(stack, "order_shipped")["id"]
    assert requests.post(f"{base}/{template_id}", json={"message_send_ttl_seconds": 600}, headers=headers,
                         timeout=10).status_code == 200  # fmt: skip
    assert _template(stack, "order_shipped")["message_send_ttl_seconds"] == 600
