"""The Graph sandbox's 2026 limits and signals (platform-changes-2026.md §2-§4): failures after acceptance,
``user_preferences``, the business portfolio's messaging limit."""

from __future__ import annotations

from typing import Any

import pytest
import requests

GERMAN, OTHER, THIRD, US = "4915112345678", "4915112345679", "4915112345680", "12125550101"
SECOND = "106540352242923"


def _template(name: str) -> dict[str, Any]:
    return {"type": "template", "template": {"name": name, "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Erika"}]}]}}  # fmt: skip


@pytest.fixture
def promo(sandbox: Any) -> dict[str, Any]:
    sandbox.add_template("promo", "Hello {{1}}, our winter sale starts today.", category="MARKETING")
    sandbox.add_template("notice", "Hello {{1}}, your order shipped.", category="UTILITY")
    return _template("promo")


def _changes(graph: Any, recorder: Any, count: int) -> list[dict[str, Any]]:
    found = []
    for captured in recorder.wait_for(count):
        for entry in graph.signed(captured)["entry"]:
            found.extend(entry["changes"])
    return found


def _final_status(graph: Any, recorder: Any, wamid: str) -> dict[str, Any]:
    """The last status (``failed`` or ``read``) of ``wamid``, waiting for it."""

    def final(requests: list[Any]) -> dict[str, Any] | None:
        for captured in requests:
            for entry in graph.signed(captured)["entry"]:
                for change in entry["changes"]:
                    for status in change["value"].get("statuses", []):
                        if status["id"] == wamid and status["status"] in ("failed", "read"):
                            return dict(status)
        return None

    found = final(recorder.wait_until(lambda requests: final(requests) is not None))
    assert found is not None
    return found


def test_marketing_to_us_numbers_and_resends_within_a_day_of_131049_fail_after_acceptance(
    graph: Any, sandbox: Any, recorder: Any, promo: dict[str, Any]
) -> None:
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    answer = graph.send_whatsapp(promo, to=US)
    assert answer.status_code == 200 and answer.json()["messages"][0]["message_status"] == "accepted"
    failed = _final_status(graph, recorder, answer.json()["messages"][0]["id"])
    assert failed["status"] == "failed" and "recipient_user_id" not in failed and "pricing" not in failed
    [error] = failed["errors"]
    assert error["code"] == 131049
    assert (
        error["title"]
        == error["message"]
        == ("This message was not delivered to maintain healthy ecosystem engagement.")
    )
    assert error["error_data"]["details"] and error["href"]
    # A utility template to the same US number is delivered.
    notice = graph.send_whatsapp(_template("notice"), to=US).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, notice)["status"] == "read"

    # Meta's per-user limit hit a German customer; a resend within 24 h fails again, a day later it goes.
    sandbox.set_options(fail_next={GERMAN: "131049"})
    first = graph.send_whatsapp(promo, to=GERMAN).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, first)["errors"][0]["code"] == 131049
    again = graph.send_whatsapp(promo, to=GERMAN).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, again)["errors"][0]["code"] == 131049
    sandbox.advance_clock(24 * 3600 + 1)
    later = graph.send_whatsapp(promo, to=GERMAN).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, later)["status"] == "read"


def test_user_preferences_stop_is_sent_as_meta_documents_it_and_marketing_then_fails_with_131050(
    graph: Any, sandbox: Any, recorder: Any, promo: dict[str, Any]
) -> None:
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    value = sandbox.user_preferences(GERMAN, "stop", name="Sheena Nelson")
    [change] = _changes(graph, recorder, 1)
    assert change == {"field": "user_preferences", "value": value}
    user_id = value["contacts"][0]["user_id"]
    assert value == {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100199", "phone_number_id": graph.settings["phone_number_id"]},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": GERMAN, "user_id": user_id}],
        "user_preferences": [
            {
                "wa_id": GERMAN,
                "user_id": user_id,
                "detail": "User requested to stop marketing messages",
                "category": "marketing_messages",
                "value": "stop",
                "timestamp": value["user_preferences"][0]["timestamp"],
            }
        ],
    }
    stopped = graph.send_whatsapp(promo, to=GERMAN).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, stopped)["errors"][0]["code"] == 131050
    notice = graph.send_whatsapp(_template("notice"), to=GERMAN).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, notice)["status"] == "read"  # only marketing was stopped

    sandbox.user_preferences(GERMAN, "resume")
    resumed = graph.send_whatsapp(promo, to=GERMAN).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, resumed)["status"] == "read"


def test_the_messaging_limit_is_shared_by_the_portfolio_s_numbers(graph: Any, sandbox: Any, recorder: Any) -> None:
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    sandbox.set_options(portfolio_phone_numbers={SECOND: "15550100200"})
    value = sandbox.set_messaging_limit("TIER_2K")
    [change] = _changes(graph, recorder, 1)
    assert change == {"field": "business_capability_update", "value": value}
    assert value == {"max_daily_conversations_per_business": 2000, "max_phone_numbers_per_waba": 25}
    for number in (graph.settings["phone_number_id"], SECOND):
        read = graph.get(number, params={"fields": "whatsapp_business_manager_messaging_limit"}).json()
        assert read["whatsapp_business_manager_messaging_limit"] == "TIER_2K"

    sandbox.set_messaging_limit("TIER_250", users=2)
    notice = _template("hello_world")
    notice["template"].pop("components")
    first = [graph.send_whatsapp(notice, to=phone).json()["messages"][0]["id"] for phone in (GERMAN, OTHER)]
    body = {"messaging_product": "whatsapp", "to": THIRD, **notice}
    over = graph.post(f"{SECOND}/messages", json=body).json()["messages"][0]["id"]
    failed = _final_status(graph, recorder, over)
    assert failed["errors"][0]["code"] == 131000 and "messaging limit" in failed["errors"][0]["error_data"]["details"]
    assert all(_final_status(graph, recorder, wamid)["status"] == "read" for wamid in first)
    # Someone the portfolio reached already may be written to from either number.
    same = graph.post(f"{SECOND}/messages", json={**body, "to": GERMAN}).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, same)["status"] == "read"
    # Inside a customer service window nothing counts: the third person writes to the second number first.
    sandbox.customer_text(SECOND, THIRD, "Hallo")
    reply = {"messaging_product": "whatsapp", "to": THIRD, "type": "text", "text": {"body": "Hallo!"}}
    answered = graph.post(f"{SECOND}/messages", json=reply).json()["messages"][0]["id"]
    assert _final_status(graph, recorder, answered)["status"] == "read"


def test_the_control_api_refuses_what_meta_never_sends(sandbox: Any) -> None:
    base = sandbox.url + "/_sandbox/whatsapp"
    cases = [
        ("user_preferences", {"wa_id": GERMAN, "value": "maybe"}, "value must be stop or resume"),
        ("user_preferences", {"value": "stop"}, "wa_id is required"),
        ("user_preferences", {"wa_id": GERMAN, "value": "stop", "phone_number_id": "1"}, "unknown phone_number_id"),
        ("messaging_limit", {"tier": "TIER_3"}, "tier must be one of"),
        ("messaging_limit", {"tier": "TIER_2K", "users": -1}, "users must be a whole number"),
    ]
    for path, body, reason in cases:
        answer = requests.post(f"{base}/{path}", json=body, timeout=10)
        assert answer.status_code == 400 and reason in answer.json()["error"], (path, body, answer.text)
