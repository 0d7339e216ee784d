"""``user_preferences`` over real HTTP: the customer stops or resumes marketing inside WhatsApp; the consent ledger
records it with the webhook as proof and notifications respect it at once."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from connector import model
from connector.db.models import WebhookEvent
from connector.db.models_notify import ConsentEvent
from connector.notify.consent import has_consent
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, customer, rows
from tests.notify.test_back_in_stock import BIS_TEMPLATE, _sold_out_variant, _with_template
from tests.notify.test_failure_signals import _bis_subscribers

PHONE = "4915112340077"


def _events(stack: Stack, contact_id: int) -> list[ConsentEvent]:
    with stack.runtime.db.session() as session:
        found = list(
            session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id).order_by(ConsentEvent.id))
        )
        session.expunge_all()
        return found


def _processed(stack: Stack) -> int:
    with stack.runtime.db.session() as session:
        return int(
            session.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.status == "processed"))
            or 0
        )


def test_stop_inside_whatsapp_is_an_opt_out_with_proof_respected_at_once_and_resume_undoes_it(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(templates=BIS_TEMPLATE, back_in_stock_factor=10.0)
    _with_template(stack)
    variant = _sold_out_variant(stack)
    contact_id = _bis_subscribers(stack, variant, [PHONE])[PHONE]

    sent = stack.graph.user_preferences(PHONE, "stop", name="Sheena Nelson")
    wait_for(lambda: not has_consent(stack.runtime, contact_id, "marketing"))
    assert has_consent(stack.runtime, contact_id, "utility")  # order updates are no marketing
    stop = _events(stack, contact_id)[-1]
    assert (stop.purpose, stop.action, stop.source, stop.on_channel) == (
        "marketing", "opt_out", "whatsapp_user_preferences", True,
    )  # fmt: skip
    proof = json.loads(stop.text)
    assert proof == {"field": "user_preferences", "value": sent["user_preferences"][0]}
    assert proof["value"]["detail"] == "User requested to stop marketing messages"

    stack.shop.set_stock(variant, 5)
    [alert] = wait_for(lambda: [r for r in rows(stack, kind="back_in_stock") if r.status == "skipped"])
    assert alert.reason == "no opt-in for marketing messages"
    assert stack.graph.messages_to(PHONE) == []  # never sent into a 131050

    stack.graph.user_preferences(PHONE, "resume")
    wait_for(lambda: has_consent(stack.runtime, contact_id, "marketing"))
    resume = _events(stack, contact_id)[-1]
    assert (resume.action, resume.source, resume.on_channel) == ("opt_in", "whatsapp_user_preferences", True)
    assert json.loads(resume.text)["value"]["value"] == "resume"


def test_resume_inside_whatsapp_is_no_opt_in_to_our_marketing(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    contact_id = customer(stack, PHONE, purposes=("utility",))
    before = _processed(stack)

    stack.graph.user_preferences(PHONE, "resume")
    wait_for(lambda: _processed(stack) > before)
    assert not has_consent(stack.runtime, contact_id, "marketing")
    assert [e.purpose for e in _events(stack, contact_id)] == ["utility"]  # the test's own opt-in only


def test_a_stop_from_someone_we_never_wrote_to_is_kept_for_later(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    stranger = "4915112340078"
    stack.graph.user_preferences(stranger, "stop")

    def stopped() -> list[ConsentEvent]:
        with stack.runtime.db.session() as session:
            found = list(
                session.scalars(select(ConsentEvent).where(ConsentEvent.source == "whatsapp_user_preferences"))
            )
            session.expunge_all()
            return found

    [event] = wait_for(stopped)
    assert event.action == "opt_out" and event.purpose == "marketing"
    # The contact it created is the one a later order or web opt-in finds by the phone number.
    assert customer(stack, stranger, purposes=()) == event.contact_id


def test_the_graph_sandbox_fails_marketing_to_a_stopped_user_with_131050(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    _with_template(stack)
    stack.graph.user_preferences(PHONE, "stop")
    adapter = stack.runtime.connections.channel_adapter(stack.channel_id)
    to = model.Contact(channel="whatsapp", channel_user_id=PHONE, phone="+" + PHONE)
    result = adapter.send(to, model.TemplateMessage(name="bis_text", language="en_US", body_parameters=["Mug"]))

    def failure() -> dict[str, object] | None:
        with stack.runtime.db.session() as session:
            bodies = session.scalars(select(WebhookEvent.body)).all()
        for body in bodies:
            for entry in json.loads(body)["entry"]:
                for change in entry["changes"]:
                    for status in change["value"].get("statuses", []):
                        if status["id"] == result.message_id and status["status"] == "failed":
                            return dict(status)
        return None

    status = wait_for(failure)
    assert status["errors"][0]["code"] == 131050  # type: ignore[index]


def test_a_malformed_user_preferences_webhook_is_refused_with_the_reason(notify_stack: StackFactory) -> None:
    import requests
    from connector_meta.sandbox.events import encode, sign

    stack = notify_stack()
    value = {"messaging_product": "whatsapp", "user_preferences": [{"wa_id": PHONE, "category": "marketing_messages",
             "value": "maybe"}]}  # fmt: skip
    body = encode({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "user_preferences", "value": value}]}]})  # fmt: skip
    headers = sign(body, stack.graph.connection_settings()["app_secret"])
    answer = requests.post(stack.channel_webhook_url(), data=body, headers=headers, timeout=10)
    assert answer.status_code == 400
    assert "value must be stop or resume" in answer.text
