"""Embedded Signup and Facebook Login for Business, Meta's side: the consent window, the 30-second single-use code,
the app secret, the redirect URI, and the onboarding endpoints' refusals, over real HTTP."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from connector_meta.sandbox import GraphSandbox
from connector_meta.sandbox.signup import walk_window

from connector.sandbox.recorder import WebhookRecorder

REDIRECT = "https://shop-connector.example.com/dashboard/setup/meta/callback"


def dialog(sandbox: GraphSandbox, *, login: bool = False, extras: dict[str, Any] | None = None, **over: str) -> str:
    s = sandbox.connection_settings()
    params = {
        "client_id": s["app_id"],
        "redirect_uri": REDIRECT,
        "state": "st-123",
        "config_id": s["login_config_id" if login else "signup_config_id"],
        "response_type": "code",
        "override_default_response_type": "true",
        "extras": json.dumps(extras if extras is not None else {"setup": {}}),
        **over,
    }
    return f"{s['dialog_url']}/{s['api_version']}/dialog/oauth?{urlencode(params)}"


def code_of(target: str) -> str:
    query = parse_qs(urlsplit(target).query)
    assert query["state"] == ["st-123"]
    return query["code"][0]


def exchange(sandbox: GraphSandbox, issued: str, **over: str) -> requests.Response:
    s = sandbox.connection_settings()
    params = {"client_id": s["app_id"], "client_secret": s["app_secret"], "code": issued, **over}
    return requests.get(f"{s['graph_url']}/{s['api_version']}/oauth/access_token", params=params, timeout=10)


def graph(sandbox: GraphSandbox, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    s = sandbox.connection_settings()
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(
        method, f"{s['graph_url']}/{s['api_version']}/{path}", headers=headers, timeout=10, **kwargs
    )


@pytest.fixture
def sandbox() -> Any:
    with GraphSandbox() as running:
        yield running


def test_the_window_posts_meta_s_finish_event_and_redirects_with_code_and_state(sandbox: GraphSandbox) -> None:
    s = sandbox.connection_settings()
    event, target = walk_window(dialog(sandbox))
    assert event == {
        "data": {
            "phone_number_id": s["phone_number_id"],
            "waba_id": s["waba_id"],
            "business_id": s["business_id"],
            "catalog_ids": [s["catalog_id"]],
        },
        "type": "WA_EMBEDDED_SIGNUP",
        "event": "FINISH",
    }
    assert target.startswith(REDIRECT + "?") and code_of(target)


def test_coexistence_finishes_with_the_waba_only(sandbox: GraphSandbox) -> None:
    extras = {"setup": {}, "featureType": "whatsapp_business_app_onboarding"}
    event, _target = walk_window(dialog(sandbox, extras=extras))
    assert event["event"] == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
    assert event["data"] == {"waba_id": sandbox.connection_settings()["waba_id"]}


def test_cancel_posts_cancel_with_the_step_and_redirects_with_access_denied(sandbox: GraphSandbox) -> None:
    event, target = walk_window(dialog(sandbox), choice="cancel")
    assert event == {"data": {"current_step": "PHONE_NUMBER_SETUP"}, "type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL"}
    query = parse_qs(urlsplit(target).query)
    assert query["error"] == ["access_denied"] and query["error_reason"] == ["user_denied"]
    assert query["state"] == ["st-123"] and "code" not in query


@pytest.mark.parametrize(
    ("over", "title"),
    [
        ({"client_id": "999"}, "Invalid App ID"),
        ({"redirect_uri": "http://shop.example.com/callback"}, "URL Blocked"),  # not HTTPS
        ({"config_id": "1"}, "Invalid configuration"),
        ({"response_type": "token"}, "Invalid request"),
    ],
)
def test_the_window_refuses_what_meta_refuses(sandbox: GraphSandbox, over: dict[str, str], title: str) -> None:
    answer = requests.get(dialog(sandbox, **over), timeout=10)
    assert answer.status_code == 400 and title in answer.text


def test_strict_mode_allows_only_the_listed_redirect_uris(sandbox: GraphSandbox) -> None:
    sandbox.set_options(oauth_redirect_uris=[REDIRECT])
    assert requests.get(dialog(sandbox, redirect_uri=REDIRECT + "x"), timeout=10).status_code == 400
    walk_window(dialog(sandbox))


def test_a_code_works_once_and_gives_a_business_token(sandbox: GraphSandbox) -> None:
    code = code_of(walk_window(dialog(sandbox))[1])
    first = exchange(sandbox, code, redirect_uri=REDIRECT)
    assert first.status_code == 200 and set(first.json()) == {"access_token"}
    again = exchange(sandbox, code, redirect_uri=REDIRECT)
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "This authorization code has been used."
    assert again.json()["error"]["error_subcode"] == 36009


def test_a_code_older_than_30_seconds_is_refused(sandbox: GraphSandbox) -> None:
    code = code_of(walk_window(dialog(sandbox))[1])
    sandbox.advance_clock(31)
    answer = exchange(sandbox, code)
    assert answer.status_code == 400 and answer.json()["error"]["message"] == "This authorization code has expired."


@pytest.mark.parametrize(
    ("over", "code", "message"),
    [
        ({"client_secret": "wrong"}, 1, "Error validating client secret."),
        ({"client_id": "42"}, 101, "Error validating application. Invalid application ID."),
        ({"redirect_uri": REDIRECT + "/other"}, 100, "Error validating verification code."),
        ({"code": "AQforged"}, 100, "Invalid verification code format."),
    ],
)
def test_the_exchange_refuses_wrong_secrets_redirects_and_codes(
    sandbox: GraphSandbox, over: dict[str, str], code: int, message: str
) -> None:
    issued = code_of(walk_window(dialog(sandbox))[1])
    answer = exchange(sandbox, issued, **over)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code and answer.json()["error"]["message"].startswith(message)
    if "code" not in over:  # a refused exchange does not use the code up
        assert exchange(sandbox, issued).status_code == 200


def test_debug_token_names_the_shared_account_and_catalog(sandbox: GraphSandbox) -> None:
    s = sandbox.connection_settings()
    token = exchange(sandbox, code_of(walk_window(dialog(sandbox))[1])).json()["access_token"]
    app_token = f"{s['app_id']}|{s['app_secret']}"
    data = graph(sandbox, "GET", "debug_token", app_token, params={"input_token": token}).json()["data"]
    assert data["is_valid"] and data["app_id"] == s["app_id"]
    scopes = {g["scope"]: g["target_ids"] for g in data["granular_scopes"]}
    assert scopes["whatsapp_business_management"] == [s["waba_id"]]
    assert scopes["catalog_management"] == [s["catalog_id"]]
    wrong = graph(sandbox, "GET", "debug_token", f"{s['app_id']}|wrong", params={"input_token": token})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == 190


def test_override_needs_a_subscription_and_a_callback_that_answers_the_challenge(sandbox: GraphSandbox) -> None:
    s = sandbox.connection_settings()
    token = exchange(sandbox, code_of(walk_window(dialog(sandbox))[1])).json()["access_token"]
    path = f"{s['waba_id']}/subscribed_apps"
    with WebhookRecorder() as recorder:  # answers 200 with an empty body: no challenge echoed
        body = {"override_callback_uri": recorder.url, "verify_token": "vt"}
        early = graph(sandbox, "POST", path, token, json=body)
        assert early.status_code == 400 and "must be subscribed" in early.json()["error"]["message"]
        assert graph(sandbox, "POST", path, token).json() == {"success": True}
        refused = graph(sandbox, "POST", path, token, json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 2200
        assert recorder.requests[0].query["hub.verify_token"] == "vt"
    assert graph(sandbox, "POST", path, "EAAforged").status_code == 401


def test_register_wants_a_six_digit_pin_and_counts_attempts(sandbox: GraphSandbox) -> None:
    s = sandbox.connection_settings()
    token = exchange(sandbox, code_of(walk_window(dialog(sandbox))[1])).json()["access_token"]
    path = f"{s['phone_number_id']}/register"
    assert (
        graph(sandbox, "POST", path, token, json={"messaging_product": "whatsapp", "pin": "12345"}).status_code == 400
    )
    for _ in range(9):
        graph(sandbox, "POST", path, token, json={"messaging_product": "whatsapp", "pin": "123456"})
    limited = graph(sandbox, "POST", path, token, json={"messaging_product": "whatsapp", "pin": "123456"})
    assert limited.status_code == 400 and limited.json()["error"]["code"] == 133016


def test_coexistence_syncs_once_each_and_only_for_app_numbers(sandbox: GraphSandbox) -> None:
    s = sandbox.connection_settings()
    plain = exchange(sandbox, code_of(walk_window(dialog(sandbox))[1])).json()["access_token"]
    path = f"{s['phone_number_id']}/smb_app_data"
    history = {"messaging_product": "whatsapp", "sync_type": "history"}
    assert graph(sandbox, "POST", path, plain, json=history).status_code == 400  # not onboarded with the app
    extras = {"setup": {}, "featureType": "whatsapp_business_app_onboarding"}
    token = exchange(sandbox, code_of(walk_window(dialog(sandbox, extras=extras))[1])).json()["access_token"]
    first = graph(sandbox, "POST", path, token, json=history)
    assert first.status_code == 200 and first.json()["request_id"]
    assert graph(sandbox, "POST", path, token, json=history).status_code == 400  # once only
    sandbox.advance_clock(24 * 3600 + 1)
    late = graph(
        sandbox, "POST", path, token, json={"messaging_product": "whatsapp", "sync_type": "smb_app_state_sync"}
    )
    assert late.status_code == 400 and "24 hour" in late.json()["error"]["error_data"]["details"]


def test_login_for_business_gives_page_tokens_that_subscribe_only_their_page(sandbox: GraphSandbox) -> None:
    s = sandbox.connection_settings()
    event, target = walk_window(dialog(sandbox, login=True, extras={}))
    assert event["data"] == {"page_ids": [s["page_id"]], "instagram_account_ids": [s["instagram_account_id"]]}
    user_token = exchange(sandbox, code_of(target)).json()["access_token"]
    pages = graph(
        sandbox, "GET", "me/accounts", user_token, params={"fields": "id,access_token,instagram_business_account"}
    )
    page = pages.json()["data"][0]
    assert page["id"] == s["page_id"] and page["instagram_business_account"] == {"id": s["instagram_account_id"]}
    path = f"{s['page_id']}/subscribed_apps"
    assert graph(sandbox, "POST", path, user_token, data={"subscribed_fields": "messages"}).status_code == 401
    bad = graph(sandbox, "POST", path, page["access_token"], data={"subscribed_fields": "messages,bogus"})
    assert bad.status_code == 400
    ok = graph(sandbox, "POST", path, page["access_token"], data={"subscribed_fields": "messages,messaging_postbacks"})
    assert ok.json() == {"success": True}
    assert graph(sandbox, "GET", s["page_id"], page["access_token"]).status_code == 200  # the page token works


def test_a_new_number_is_verified_with_the_texted_code_and_joins_the_portfolio(sandbox: GraphSandbox) -> None:
    s = sandbox.connection_settings()
    opened = requests.get(dialog(sandbox), timeout=10).text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', opened))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    confirm = f"{s['dialog_url']}/{s['api_version']}/dialog/oauth/confirm"
    new = {**fields, "phone_number_id": "new", "new_number": "+49 151 2345 0000", "choice": "continue"}
    asked = requests.post(confirm, data=new, timeout=10).text
    code = re.search(r'id="meta-otp-code">(\d{6})<', asked).group(1)  # type: ignore[union-attr]
    wrong = requests.post(confirm, data={**new, "otp": "000000" if code != "000000" else "111111"}, timeout=10)
    assert "not right" in wrong.text and "code=" not in wrong.text
    event, target = walk_window(dialog(sandbox), phone_number_id="new", new_number="+49 151 2345 0000")
    added = event["data"]["phone_number_id"]
    assert added != s["phone_number_id"] and code_of(target)
    token = exchange(sandbox, code_of(target)).json()["access_token"]
    listed = graph(sandbox, "GET", f"{s['waba_id']}/phone_numbers", token).json()["data"]
    assert {"id": added, "display_phone_number": "+4915123450000"}.items() <= next(
        n for n in listed if n["id"] == added
    ).items()
