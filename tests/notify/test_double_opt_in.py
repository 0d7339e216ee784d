"""Consent from the web (double opt-in) over real HTTP: a form only asks, the customer's own WhatsApp message grants,
a customer's STOP holds against the web and the admin API until START, requests expire, and the public endpoints are
rate-limited per address and per number."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
from sqlalchemy import select

from connector.db.models import Contact
from connector.notify.consent import has_consent
from tests.conftest import Stack, wait_for
from tests.notify.conftest import ApiClient, StackFactory, customer, rows
from tests.notify.test_back_in_stock import BIS_TEMPLATE, _sold_out_variant, _with_template

VICTIM = "4915112340001"
ATTACKER = "4915112340999"
CONTROL = "4915112340555"


def _texts(stack: Stack, phone: str) -> list[str]:
    return [m["text"]["body"] for m in stack.graph.messages_to(phone) if m["type"] == "text"]


def _ask(stack: Stack, phone: str, variant: str) -> requests.Response:
    body = {"shop_connection_id": stack.shop_id, "variant_external_id": variant, "phone": "+" + phone, "consent": True}
    return requests.post(f"{stack.url}/public/back-in-stock", json=body, timeout=10)


def _widget(stack: Stack, phone: str) -> requests.Response:
    body = {
        "channel_connection_id": stack.channel_id,
        "phone": "+" + phone,
        "consent": True,
        "text": "Yes, send me shipping updates and back-in-stock alerts on WhatsApp.",
        "page": "https://shop.example/contact",
    }
    return requests.post(f"{stack.url}/dashboard/public/opt-in", json=body, timeout=10)


def _subscriptions(stack: Stack) -> dict[str, str]:
    """Status of each subscription (as the admin API lists them) by the subscriber's phone number."""
    items = ApiClient(stack).get("/api/v1/notifications/subscriptions").json()["items"]
    with stack.runtime.db.session() as session:
        numbers = {cid: number for cid, number in session.execute(select(Contact.id, Contact.channel_user_id))}
    return {numbers[item["contact_id"]]: item["status"] for item in items}


def _confirm(stack: Stack, phone: str, confirm_text: str) -> None:
    stack.graph.customer_text(None, phone, confirm_text)
    wait_for(lambda: [t for t in _texts(stack, phone) if t.startswith("Thank you, confirmed")])


def _control_subscriber(stack: Stack, variant: str) -> None:
    """A customer who subscribed and confirmed properly: their alert shows the restock's wave has run."""
    answer = _ask(stack, CONTROL, variant)
    assert answer.status_code == 202
    _confirm(stack, CONTROL, answer.json()["confirm_text"])


def _alerts_to(stack: Stack, phone: str) -> list[Any]:
    return [r for r in rows(stack, kind="back_in_stock") if r.recipient == phone]


def test_after_the_customers_stop_a_web_form_and_a_restock_send_nothing(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE, back_in_stock_factor=10.0)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    victim = customer(stack, VICTIM, purposes=("utility", "marketing"))
    stack.graph.customer_text(None, VICTIM, "STOP")
    wait_for(lambda: [t for t in _texts(stack, VICTIM) if "START" in t])

    # The attacker fills the product page's form and the widget with the victim's number ...
    attack = _ask(stack, VICTIM, variant)
    assert attack.status_code == 202 and attack.json()["status"] == "pending"
    assert _widget(stack, VICTIM).status_code == 202
    # ... sends the code from their own WhatsApp (it confirms nothing) ...
    stack.graph.customer_text(None, ATTACKER, attack.json()["confirm_text"])
    wait_for(lambda: [t for t in _texts(stack, ATTACKER) if "unknown or has expired" in t])
    # ... and tries the admin API's opt-in: refused, the customer's STOP holds.
    refused = ApiClient(stack).post(
        f"/api/v1/notifications/consent/{victim}",
        json={"purpose": "marketing", "granted": True, "text": "imported from the newsletter tool"},
    )
    assert refused.status_code == 409 and "START" in refused.json()["message"]
    assert not has_consent(stack.runtime, victim, "marketing")
    # The victim wrote STOP: no question is sent to them either.
    assert not [m for m in stack.graph.messages_to(VICTIM) if m["type"] == "interactive"]

    _control_subscriber(stack, variant)
    stack.shop.set_stock(variant, 5)
    wait_for(lambda: [r for r in _alerts_to(stack, CONTROL) if r.status in ("sent", "delivered", "read")])
    assert _alerts_to(stack, VICTIM) == []
    assert not [m for m in stack.graph.messages_to(VICTIM) if m["type"] in ("template", "interactive", "image")]
    assert _subscriptions(stack)[VICTIM] == "pending"


def test_a_form_then_the_customers_confirmation_on_whatsapp_then_the_alert(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE)
    _with_template(stack)
    variant = _sold_out_variant(stack)

    answer = _ask(stack, VICTIM, variant)
    assert answer.status_code == 202 and answer.headers["Access-Control-Allow-Origin"] == "*"
    pending = answer.json()
    assert "OPTIN-" in pending["confirm_text"] and pending["status"] == "pending"
    again = _ask(stack, VICTIM, variant)
    assert again.json()["id"] == pending["id"] and again.json()["confirm_text"] == pending["confirm_text"]
    assert _subscriptions(stack) == {VICTIM: "pending"}
    contact_id = customer(stack, VICTIM, purposes=())
    assert not has_consent(stack.runtime, contact_id, "marketing")
    # Outside the customer's 24-hour window nothing is sent to an unconfirmed number.
    assert stack.graph.messages_to(VICTIM) == []

    wamid = stack.graph.customer_text(None, VICTIM, pending["confirm_text"])
    wait_for(lambda: [t for t in _texts(stack, VICTIM) if t.startswith("Thank you, confirmed")])
    assert has_consent(stack.runtime, contact_id, "marketing")
    assert _subscriptions(stack) == {VICTIM: "active"}
    proof = ApiClient(stack).get(f"/api/v1/notifications/consent/{contact_id}").json()
    latest = proof["history"][-1]
    assert latest["action"] == "opt_in" and latest["source"].startswith("double_opt_in:")
    assert wamid in latest["text"] and pending["confirm_text"] in latest["text"]
    assert "back in stock" in latest["text"]  # the form's wording, kept with the confirmation

    stack.shop.set_stock(variant, 3)
    alert = wait_for(lambda: [r for r in _alerts_to(stack, VICTIM) if r.status in ("sent", "delivered", "read")])
    assert len(alert) == 1


def test_inside_the_window_the_customer_confirms_with_a_button(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    stack.graph.customer_text(None, VICTIM, "hi")  # the customer's window is open
    wait_for(lambda: stack.graph.messages_to(VICTIM))

    assert _widget(stack, VICTIM).status_code == 202
    question = wait_for(lambda: [m for m in stack.graph.messages_to(VICTIM) if m["type"] == "interactive"
                                 and "confirm" in m["interactive"]["body"]["text"]])  # fmt: skip
    assert "shipping updates" not in question[0]["interactive"]["body"]["text"]  # our words, not the form's
    [button] = question[0]["interactive"]["action"]["buttons"]
    assert _widget(stack, VICTIM).status_code == 202  # asked again: no second question
    stack.graph.customer_press_button(None, VICTIM, button["reply"]["id"])
    wait_for(lambda: [t for t in _texts(stack, VICTIM) if t.startswith("Thank you, confirmed")])
    contact_id = customer(stack, VICTIM, purposes=())
    assert has_consent(stack.runtime, contact_id, "utility") and has_consent(stack.runtime, contact_id, "marketing")
    questions = [
        m
        for m in stack.graph.messages_to(VICTIM)
        if m["type"] == "interactive" and "confirm" in m["interactive"]["body"]["text"]
    ]
    assert len(questions) == 1


def test_an_unconfirmed_request_expires(notify_stack: StackFactory) -> None:
    stack = notify_stack(double_opt_in_expiry_hours=0.001)  # 3.6 seconds
    answer = _ask(stack, VICTIM, "42").json()
    expires_at = datetime.fromisoformat(answer["expires_at"])
    wait_for(lambda: datetime.now(UTC) > expires_at)
    # The scheduled expiry (every 15 minutes) ends it without anyone writing ...
    stack.runtime.queue.enqueue("notify.expire_consent_requests", {})
    stack.runtime.queue.notify()
    wait_for(lambda: _subscriptions(stack) == {VICTIM: "expired"})

    # ... and the code no longer confirms anything.
    stack.graph.customer_text(None, VICTIM, answer["confirm_text"])
    wait_for(lambda: [t for t in _texts(stack, VICTIM) if "unknown or has expired" in t])
    contact_id = customer(stack, VICTIM, purposes=())
    assert not has_consent(stack.runtime, contact_id, "marketing")
    assert _subscriptions(stack) == {VICTIM: "expired"}


def test_start_lifts_the_stop_and_the_customer_can_opt_in_again(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    contact_id = customer(stack, VICTIM, purposes=("marketing",))
    stack.graph.customer_text(None, VICTIM, "STOP")
    wait_for(lambda: [t for t in _texts(stack, VICTIM) if "START" in t])
    api = ApiClient(stack)
    opt_in = {"purpose": "marketing", "granted": True, "text": "Agreed at the till"}
    assert api.post(f"/api/v1/notifications/consent/{contact_id}", json=opt_in).status_code == 409

    stack.graph.customer_text(None, VICTIM, "Anmelden")
    wait_for(lambda: has_consent(stack.runtime, contact_id, "marketing"))
    assert api.post(f"/api/v1/notifications/consent/{contact_id}", json=opt_in).status_code == 200


def test_the_public_endpoints_are_limited_per_address(notify_stack: StackFactory) -> None:
    stack = notify_stack(public_subscribe_per_minute=3, public_requests_per_phone_per_hour=100)
    assert _ask(stack, "4917000000001", "42").status_code == 202
    assert _widget(stack, "4917000000002").status_code == 202
    assert _ask(stack, "4917000000003", "42").status_code == 202
    limited = _ask(stack, "4917000000004", "42")  # another number, the same client: both endpoints count
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    widget = _widget(stack, "4917000000005")
    assert widget.status_code == 429 and int(widget.headers["Retry-After"]) >= 1
    assert "too many requests" in widget.json()["error"]


def test_the_public_endpoints_are_limited_per_phone_number(notify_stack: StackFactory) -> None:
    stack = notify_stack(public_subscribe_per_minute=100, public_requests_per_phone_per_hour=2)
    assert _ask(stack, VICTIM, "42").status_code == 202
    assert _widget(stack, VICTIM).status_code == 202
    limited = _ask(stack, VICTIM, "43")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 60  # an hour's allowance
    assert "too many requests" in limited.json()["message"]
    assert _widget(stack, "+49 151 1234 0001").status_code == 429  # the same number, written differently
    assert _ask(stack, CONTROL, "43").status_code == 202  # other numbers are not affected


def test_hostile_input_to_the_public_endpoints_gets_a_reason(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    url = f"{stack.url}/public/back-in-stock"
    base = {"shop_connection_id": stack.shop_id, "variant_external_id": "42", "phone": "+" + VICTIM, "consent": True}
    for bad, reason in (
        ({**base, "language": {"x": 1}}, "language"),
        ({**base, "variant_external_id": "v" * 300}, "variant_external_id"),
        ({**base, "shop_connection_id": "x"}, "shop_connection_id"),
    ):
        response = requests.post(url, json=bad, timeout=10)
        assert response.status_code == 400 and reason in response.json()["message"]


def test_a_stop_cancels_what_the_web_asked_for(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    answer = _ask(stack, VICTIM, "42").json()
    stack.graph.customer_text(None, VICTIM, "Stopp")
    wait_for(lambda: [t for t in _texts(stack, VICTIM) if "START" in t])
    assert _subscriptions(stack) == {VICTIM: "cancelled"}

    stack.graph.customer_text(None, VICTIM, answer["confirm_text"])  # an old code confirms nothing after STOP
    wait_for(lambda: [t for t in _texts(stack, VICTIM) if "unknown or has expired" in t])
    contact_id = customer(stack, VICTIM, purposes=())
    assert not has_consent(stack.runtime, contact_id, "marketing")
