"""One Meta app, many numbers: the app-level webhook URL routes every change to its own connection, over real HTTP.

Meta sends every number, Page and Instagram account of an app to one callback URL. The Graph sandbox is subscribed
to ``/webhooks/meta`` (with Meta's verification handshake) and customers write; deliveries for other numbers are the
envelopes Meta sends, signed with the app secret.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from sqlalchemy import select

from connector.api.auth import create_token
from connector.db.models import InboundMessage, WebhookEvent
from tests.conftest import Stack, wait_for

SECOND_NUMBER = "222333444555666"
UNKNOWN_NUMBER = "999888777666555"


def _settings(stack: Stack, **changes: str) -> dict[str, str]:
    cls = stack.runtime.plugins.channel_adapters["whatsapp"]
    names = {f.name for f in cls.config_fields}
    return {**{k: v for k, v in stack.graph.connection_settings().items() if k in names}, **changes}


def _second_number(stack: Stack, **changes: str) -> int:
    row = stack.runtime.connections.create_channel(
        shop_connection_id=stack.shop_id,
        name="Second number",
        channel="whatsapp",
        settings=_settings(stack, phone_number_id=SECOND_NUMBER, **changes),
    )
    return int(row.id)


def _app_url(stack: Stack) -> str:
    return stack.runtime.connections.meta_app_webhook_url()


def _text_change(phone_number_id: str, wa_id: str, wamid: str, text: str) -> dict[str, Any]:
    return {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Kim"}, "wa_id": wa_id, "user_id": f"DE.{wa_id}"}],
            "messages": [
                {
                    "from": wa_id,
                    "from_user_id": f"DE.{wa_id}",
                    "id": wamid,
                    "timestamp": "1765100000",
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        },
    }


def _post(stack: Stack, payload: dict[str, Any], secret: str | None = None) -> requests.Response:
    from connector_meta.signature import sign

    body = json.dumps(payload, separators=(",", ":")).encode()
    secret = secret if secret is not None else stack.graph.connection_settings()["app_secret"]
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
    return requests.post(_app_url(stack), data=body, headers=headers, timeout=10)


def _envelope(stack: Stack, *changes: dict[str, Any]) -> dict[str, Any]:
    waba = stack.graph.connection_settings()["waba_id"]
    return {"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": list(changes)}]}


def _messages(stack: Stack, channel_id: int) -> list[str]:
    with stack.runtime.db.session() as session:
        return list(
            session.scalars(
                select(InboundMessage.message_id)
                .where(InboundMessage.channel_connection_id == channel_id)
                .order_by(InboundMessage.id)
            )
        )


def _events(stack: Stack) -> list[tuple[int, bytes]]:
    with stack.runtime.db.session() as session:
        rows = session.execute(
            select(WebhookEvent.connection_id, WebhookEvent.body).where(WebhookEvent.connection_kind == "channel")
        ).all()
    return [(row[0], row[1]) for row in rows]


def test_the_sandbox_subscribes_to_the_app_url_and_customers_reach_their_number(stack: Stack) -> None:
    second = _second_number(stack)
    settings = stack.graph.connection_settings()
    # Meta's handshake against the app URL: any Meta connection's verify token passes when none is configured.
    stack.graph.subscribe_webhooks(_app_url(stack), verify_token=settings["verify_token"])

    wamid = stack.graph.customer_text(None, "4915112340001", "Hallo")
    wait_for(lambda: wamid in _messages(stack, stack.channel_id))
    assert wamid not in _messages(stack, second)

    # The second number's change, from the same app: stored under the second connection only.
    answer = _post(stack, _envelope(stack, _text_change(SECOND_NUMBER, "4915112340002", "wamid.second.1", "Hi")))
    assert answer.status_code == 200, answer.text
    assert answer.json()["dropped"] == 0
    wait_for(lambda: "wamid.second.1" in _messages(stack, second))
    assert "wamid.second.1" not in _messages(stack, stack.channel_id)


def test_one_delivery_with_several_numbers_is_split_and_an_unknown_number_dropped(stack: Stack) -> None:
    second = _second_number(stack)
    own = stack.graph.connection_settings()["phone_number_id"]
    payload = _envelope(
        stack,
        _text_change(own, "4915112340011", "wamid.mixed.own", "one"),
        _text_change(SECOND_NUMBER, "4915112340012", "wamid.mixed.second", "two"),
        _text_change(UNKNOWN_NUMBER, "4915112340013", "wamid.mixed.unknown", "three"),
    )
    answer = _post(stack, payload)
    assert answer.status_code == 200, answer.text
    assert answer.json()["dropped"] == 1
    wait_for(lambda: "wamid.mixed.own" in _messages(stack, stack.channel_id))
    wait_for(lambda: "wamid.mixed.second" in _messages(stack, second))
    assert _messages(stack, stack.channel_id) == ["wamid.mixed.own"]
    assert _messages(stack, second) == ["wamid.mixed.second"]
    # Each connection stored only its own share, and the unknown number's change is stored nowhere.
    for connection_id, body in _events(stack):
        assert UNKNOWN_NUMBER.encode() not in body
        assert (SECOND_NUMBER.encode() in body) == (connection_id == second)

    # A redelivery of the same bytes is a duplicate for each connection, never processed twice.
    again = _post(stack, payload)
    assert again.status_code == 200
    assert {c["status"] for c in again.json()["connections"].values()} == {"duplicate"}

    token = create_token(stack.runtime, "prometheus", scope="read")
    metrics = requests.get(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    line = next(m for m in metrics.splitlines() if m.startswith("connector_webhook_changes_unrouted_total{"))
    assert 'object="whatsapp_business_account"' in line and float(line.rsplit(" ", 1)[1]) >= 2


def test_a_change_for_a_number_nobody_connects_is_acknowledged_and_dropped(stack: Stack) -> None:
    before = _events(stack)
    answer = _post(stack, _envelope(stack, _text_change(UNKNOWN_NUMBER, "4915112340021", "wamid.unknown", "hi")))
    assert answer.status_code == 200  # Meta must not retry it
    assert answer.json() == {"status": "accepted", "connections": {}, "dropped": 1}
    assert _events(stack) == before
    assert "wamid.unknown" not in _messages(stack, stack.channel_id)


def test_forged_signature_on_the_app_url_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    own = stack.graph.connection_settings()["phone_number_id"]
    payload = _envelope(stack, _text_change(own, "4915112340031", "wamid.forged", "hi"))
    before = _events(stack)
    forged = _post(stack, payload, secret="not-the-app-secret")
    assert forged.status_code == 401 and forged.json()["error"]
    unsigned = requests.post(_app_url(stack), json=payload, timeout=10)
    assert unsigned.status_code == 401
    assert _events(stack) == before


def test_only_connections_of_the_signing_app_receive_its_changes(stack: Stack) -> None:
    # The second number belongs to another Meta app (another secret): this app's change for that number is not
    # routed to it, however the number matches.
    other_app = _second_number(stack, app_secret="secret-of-another-app")
    answer = _post(stack, _envelope(stack, _text_change(SECOND_NUMBER, "4915112340041", "wamid.otherapp", "hi")))
    assert answer.status_code == 200 and answer.json()["dropped"] == 1
    assert _messages(stack, other_app) == []
    # Signed by the other app, it is.
    answer = _post(
        stack,
        _envelope(stack, _text_change(SECOND_NUMBER, "4915112340041", "wamid.otherapp.2", "hi")),
        secret="secret-of-another-app",
    )
    assert answer.status_code == 200 and answer.json()["dropped"] == 0
    wait_for(lambda: _messages(stack, other_app) == ["wamid.otherapp.2"])


def test_the_handshake_uses_the_configured_app_verify_token(stack: Stack) -> None:
    stack.runtime.config.server.meta_app_verify_token = "app-level-token"
    try:
        params = {"hub.mode": "subscribe", "hub.verify_token": "app-level-token", "hub.challenge": "1158201444"}
        ok = requests.get(_app_url(stack), params=params, timeout=10)
        assert ok.status_code == 200 and ok.text == "1158201444"
        wrong = requests.get(_app_url(stack), params={**params, "hub.verify_token": "guess"}, timeout=10)
        assert wrong.status_code == 403
    finally:
        stack.runtime.config.server.meta_app_verify_token = ""


def test_per_connection_url_ignores_another_numbers_change(stack: Stack) -> None:
    # The per-connection URL keeps working, and a change for another number of the same app (Meta sends them all
    # to the one callback URL) is never stored under this connection.
    from connector_meta.signature import sign

    own = stack.graph.connection_settings()["phone_number_id"]
    payload = _envelope(
        stack,
        _text_change(own, "4915112340051", "wamid.per.own", "mine"),
        _text_change(SECOND_NUMBER, "4915112340052", "wamid.per.other", "not mine"),
    )
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, stack.graph.connection_settings()["app_secret"]),
    }
    answer = requests.post(stack.channel_webhook_url(), data=body, headers=headers, timeout=10)
    assert answer.status_code == 200
    wait_for(lambda: "wamid.per.own" in _messages(stack, stack.channel_id))
    assert "wamid.per.other" not in _messages(stack, stack.channel_id)


def _page_connection(stack: Stack, channel: str, account: dict[str, str]) -> int:
    s = stack.graph.connection_settings()
    row = stack.runtime.connections.create_channel(
        shop_connection_id=stack.shop_id,
        name=f"Test {channel}",
        channel=channel,
        settings={
            **account,
            "page_access_token": s["access_token"],
            "app_secret": s["app_secret"],
            "verify_token": s["verify_token"],
            "graph_url": s["graph_url"],
            "api_version": s["api_version"],
        },
    )
    return int(row.id)


def test_pages_and_instagram_accounts_are_routed_by_entry_id(stack: Stack) -> None:
    s = stack.graph.connection_settings()
    messenger = _page_connection(stack, "messenger", {"page_id": s["page_id"]})
    instagram = _page_connection(stack, "instagram", {"instagram_account_id": s["instagram_account_id"]})
    other_page = _page_connection(stack, "messenger", {"page_id": "104000000000999"})
    stack.graph.subscribe_webhooks(_app_url(stack), verify_token=s["verify_token"])

    page_mid = stack.graph.messenger_text("7100000000042", "Hello page")["message"]["mid"]
    ig_mid = stack.graph.messenger_text("8100000000042", "Hello insta", object="instagram")["message"]["mid"]
    wa_mid = stack.graph.customer_text(None, "4915112340061", "Hallo")
    wait_for(lambda: _messages(stack, messenger) == [page_mid])
    wait_for(lambda: _messages(stack, instagram) == [ig_mid])
    wait_for(lambda: _messages(stack, stack.channel_id) == [wa_mid])
    assert _messages(stack, other_page) == []

    # An entry for a Page nobody connects: acknowledged, dropped.
    payload = {
        "object": "page",
        "entry": [
            {
                "id": "104000000000111",
                "time": 1765100000000,
                "messaging": [
                    {
                        "sender": {"id": "7100000000043"},
                        "recipient": {"id": "104000000000111"},
                        "timestamp": 1765100000000,
                        "message": {"mid": "m_unknown_page", "text": "hi"},
                    }
                ],
            }
        ],
    }
    answer = _post(stack, payload)
    assert answer.status_code == 200 and answer.json() == {"status": "accepted", "connections": {}, "dropped": 1}
