"""Messenger after the tag ban (2026-04-27): the three tags are refused with code 100 / subcode 1893061, and a Page
sends outside the window with a utility message (``messaging_type: UTILITY`` and an approved Page template) where
the Page and the user are in a supported market (US, VN, TH, PH)."""

from __future__ import annotations

import pytest

PSID = "6001234567890123"
PAGE_BODY = "Good news: order {{1}} has shipped with {{2}}."


def _utility(name: str = "order_shipped", parameters: tuple[str, ...] = ("#8812", "UPS"), code: str = "en_US"):
    return {
        "recipient": {"id": PSID},
        "messaging_type": "UTILITY",
        "message": {
            "template": {
                "name": name,
                "language": {"code": code},
                "components": [{"type": "BODY", "parameters": [{"type": "text", "text": p} for p in parameters]}],
            }
        },
    }


@pytest.mark.parametrize("tag", ["POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE"])
def test_removed_tags_are_refused_as_meta_does_inside_and_outside_the_window(graph, sandbox, tag):
    sandbox.messenger_text(PSID, "hi")
    body = {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": tag, "message": {"text": "Shipped"}}
    for _ in range(2):
        answer = graph.send_messenger(body, node=graph.settings["page_id"])
        assert answer.status_code == 400
        error = graph.error(answer)
        assert (error["code"], error["error_subcode"], error["type"]) == (100, 1893061, "OAuthException")
        assert error["message"] == "(#100) Invalid parameter"
        sandbox.advance_clock(2 * 86400)
    assert sandbox.stats()["messenger"]["accepted"] == 0


def test_a_page_creates_and_lists_utility_templates_only(graph, sandbox):
    page = graph.settings["page_id"]
    created = graph.post(
        f"{page}/message_templates",
        json={"name": "order_shipped", "language": "en_US", "category": "UTILITY",
              "components": [{"type": "BODY", "text": PAGE_BODY}]},
    )  # fmt: skip
    assert created.status_code == 200 and created.json()["status"] == "APPROVED"
    assert created.json()["category"] == "UTILITY"
    marketing = graph.post(
        f"{page}/message_templates",
        json={
            "name": "sale",
            "language": "en_US",
            "category": "MARKETING",
            "components": [{"type": "BODY", "text": "x"}],
        },
    )
    assert marketing.status_code == 400 and graph.error(marketing)["code"] == 100
    [listed] = graph.get(f"{page}/message_templates").json()["data"]
    assert (listed["name"], listed["language"], listed["status"]) == ("order_shipped", "en_US", "APPROVED")
    # the WhatsApp Business Account's templates are a different list
    assert "order_shipped" in {
        t["name"] for t in graph.get(f"{graph.settings['waba_id']}/message_templates").json()["data"]
    }
    assert len(graph.get(f"{page}/message_templates").json()["data"]) == 1


def test_outside_the_window_an_approved_utility_template_goes_out(graph, sandbox):
    sandbox.add_page_template("order_shipped", PAGE_BODY)
    sandbox.messenger_text(PSID, "hi")
    sandbox.advance_clock(3 * 86400)
    answer = graph.send_messenger(_utility(), node=graph.settings["page_id"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["recipient_id"] == PSID and answer.json()["message_id"].startswith("m_")
    [sent] = sandbox.messages_to(PSID)
    assert sent["messaging_type"] == "UTILITY" and sent["message"]["template"]["name"] == "order_shipped"


def test_utility_sends_are_checked_against_the_template_its_approval_and_the_market(graph, sandbox):
    page = graph.settings["page_id"]
    sandbox.set_options(page_template_status="PENDING")
    sandbox.add_page_template("order_shipped", PAGE_BODY)
    sandbox.messenger_text(PSID, "hi")

    def refused(body) -> str:
        answer = graph.send_messenger(body, node=page)
        assert answer.status_code == 400 and graph.error(answer)["code"] == 100
        return graph.error(answer).get("error_data", {}).get("details", "")

    assert "not approved: PENDING" in refused(_utility())
    sandbox.set_page_template_status("order_shipped", "APPROVED")
    assert "does not exist" in refused(_utility(name="order_delivered"))
    assert "does not exist" in refused(_utility(code="de_DE"))
    assert "takes 2 body parameters, 1 given" in refused(_utility(parameters=("#8812",)))
    sandbox.set_options(messenger_user_countries={PSID: "DE"})
    assert "not available" in refused(_utility())
    sandbox.set_options(messenger_user_countries={PSID: "PH"}, page_country="DE")
    assert "not available" in refused(_utility())
    sandbox.set_options(page_country="US")
    assert graph.send_messenger(_utility(), node=page).status_code == 200


def test_instagram_has_no_utility_messages(graph, sandbox):
    igsid = "7001234567890123"
    sandbox.add_page_template("order_shipped", PAGE_BODY)
    sandbox.messenger_text(igsid, "hey", object="instagram")
    body = {**_utility(), "recipient": {"id": igsid}}
    assert graph.error(graph.send_messenger(body))["code"] == 100
