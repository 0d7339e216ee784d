"""The dashboard and observability through the real Flask app (no browser): CSRF, first user, opt-in endpoint,
request ids, redaction, JSON logs, plugin settings, ``connector doctor`` and the user commands."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.dashboard import setup_link
from connector.dashboard.plugin_forms import effective_settings, save_settings
from connector.dashboard.users import authenticate, create_user
from connector.db.models import PluginSetting
from connector.observability import JsonFormatter, RedactingFilter, RequestIdFilter, redact
from connector.runtime import Runtime
from tests.conftest import wait_for

from .conftest import EMAIL, PASSWORD, Connected, config_file, csrf_of, run_cli


def login(client: Any) -> None:
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post("/dashboard/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 302


def test_first_user_only_while_none_exists_and_only_with_the_setup_link(runtime: Runtime, client: Any) -> None:
    assert client.get("/dashboard/login").headers["Location"].endswith("/dashboard/first-user")
    # From this machine too: behind a local reverse proxy every visitor would look local.
    page = client.get("/dashboard/first-user")
    assert page.status_code == 403
    assert "connector dashboard add-user" in page.text and "connector dashboard setup-link" in page.text
    token = setup_link.new_token(runtime)
    form = client.get(f"/dashboard/first-user?token={token}")
    csrf = csrf_of(form.text)
    data = {"csrf_token": csrf, "token": token, "email": EMAIL}
    short = client.post("/dashboard/first-user", data={**data, "password": "short"})
    assert short.status_code == 400 and "at least 10 characters" in short.text
    forged = client.post("/dashboard/first-user", data={**data, "token": "guessed", "password": PASSWORD})
    assert forged.status_code == 403
    made = client.post("/dashboard/first-user", data={**data, "password": PASSWORD})
    assert made.status_code == 302
    assert client.get("/dashboard/first-user").headers["Location"].endswith("/dashboard/login")


def test_passwords_are_stored_as_argon2_hashes(runtime: Runtime) -> None:
    from connector.db.models_dashboard import DashboardUser

    create_user(runtime, EMAIL, PASSWORD)
    with runtime.db.session() as session:
        stored = session.scalars(select(DashboardUser.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert authenticate(runtime, EMAIL.upper(), PASSWORD, "10.0.0.1").ok
    assert not authenticate(runtime, EMAIL, PASSWORD + "x", "10.0.0.1").ok
    assert not authenticate(runtime, "nobody@example.com", PASSWORD, "10.0.0.1").ok


def test_post_without_csrf_token_is_a_400_with_the_reason(runtime: Runtime, client: Any) -> None:
    create_user(runtime, EMAIL, PASSWORD)
    login(client)
    response = client.post("/dashboard/jobs/run", data={"job_id": "housekeeping"})
    assert response.status_code == 400
    assert "Reload the page and try again" in response.text


def test_malformed_requests_get_a_4xx_with_a_reason(runtime: Runtime, client: Any) -> None:
    create_user(runtime, EMAIL, PASSWORD)
    login(client)
    token = csrf_of(client.get("/dashboard/jobs").text)
    assert client.get("/dashboard/catalog?status=bogus").status_code == 400
    assert client.post("/dashboard/jobs/run", data={"csrf_token": token, "job_id": "nope"}).status_code == 404
    assert client.get("/dashboard/contacts/999/export.json").status_code == 404
    assert client.post("/dashboard/contacts/999/erase", data={"csrf_token": token}).status_code == 404
    assert client.post("/dashboard/setup/shop", data={"csrf_token": token, "platform": "nope"}).status_code == 400
    assert client.get("/dashboard/click-to-chat/1/qr.gif").status_code == 404


def test_every_response_carries_a_request_id_and_logs_name_it(runtime: Runtime, client: Any) -> None:
    fresh = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-ID"])
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"] != "bad id!"


def test_json_logs_carry_the_request_id_and_never_a_secret(app: Any) -> None:
    record = logging.LogRecord("connector.x", logging.INFO, __file__, 1, "GET %s with %s", None, None)
    record.args = ("https://shop/wp-json?consumer_secret=cs_123456&x=1", "Authorization: Bearer EAAGsecret")
    with app.test_request_context(headers={"X-Request-ID": "req-7"}):
        app.preprocess_request()
        RequestIdFilter().filter(record)
        RedactingFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-7"
    assert "cs_123456" not in line["message"] and "EAAGsecret" not in line["message"]
    assert "consumer_secret=***" in line["message"]
    assert redact('{"access_token": "EAAB123", "name": "ok"}') == '{"access_token": "***", "name": "ok"}'


def test_plugin_settings_forms_store_secrets_encrypted(runtime: Runtime) -> None:
    from connector.adapters import ConfigField, FieldType

    fields = [
        ConfigField("greeting", "Greeting", default="Hello", required=False),
        ConfigField("api_key", "API key", FieldType.SECRET),
    ]
    save_settings(runtime, "greeter", fields, {"greeting": "Moin", "api_key": "k-123"})
    with runtime.db.session() as session:
        rows = {r.key: r for r in session.scalars(select(PluginSetting))}
    assert rows["greeting"].value == {"value": "Moin"}
    assert rows["api_key"].value is None and "k-123" not in rows["api_key"].secret
    save_settings(runtime, "greeter", fields, {"greeting": "Servus", "api_key": ""})  # empty secret keeps it
    assert effective_settings(runtime, "greeter") == {"greeting": "Servus", "api_key": "k-123"}


def test_the_widget_opt_in_is_granted_once_confirmed_on_whatsapp(connected: Connected) -> None:
    import requests

    from connector.notify.consent import consent_in

    url = f"{connected.live.url}/dashboard/public/opt-in"
    body = {
        "channel_connection_id": connected.channel_id,
        "phone": "+49 151 999 000 11",
        "consent": True,
        "text": "Yes, send me shipping updates.",
        "page": "https://shop.example/contact",
    }
    for bad, reason in (
        ({**body, "consent": False}, "consent"),
        ({**body, "phone": "12"}, "phone"),
        ({**body, "text": ""}, "text"),
        ({**body, "channel_connection_id": "x"}, "channel_connection_id"),
        ({**body, "purposes": ["spam"]}, "purposes"),
    ):
        response = requests.post(url, json=bad, timeout=10)
        assert response.status_code == 400 and reason in response.json()["error"]
    response = requests.post(url, json=body, timeout=10, headers={"Origin": "https://shop.example"})
    assert response.status_code == 202 and response.headers["Access-Control-Allow-Origin"] == "*"
    from connector.db.models import Contact

    rt = connected.live.runtime
    with rt.db.session() as session:
        contact = session.scalars(select(Contact).where(Contact.channel_user_id == "4915199900011")).one()
        assert not consent_in(session, contact.id, "marketing")  # a request only, until confirmed on WhatsApp
    # The customer sends the prefilled confirmation from their own number: now it counts, with that message as proof.
    connected.graph.customer_text(None, "4915199900011", response.json()["confirm_text"])

    def confirmed() -> bool:
        with rt.db.session() as session:
            return consent_in(session, contact.id, "marketing") and consent_in(session, contact.id, "utility")

    wait_for(confirmed)


def test_doctor_prints_what_to_fix(connected: Connected, tmp_path: Path) -> None:
    connected.graph.customer_text(None, "4915112345678", "Hi")  # a webhook reaches the channel
    connected.graph.wait_webhooks()
    path = config_file(tmp_path, connected.live.runtime)
    out = run_cli("--config", str(path), "doctor").stdout
    assert "✓ database" in out and "✓ migrations" in out
    assert "✓ credentials: shop 1 (woocommerce, Demo shop): connected to" in out
    assert "✓ credentials: channel 1 (whatsapp, Demo number): connected to" in out
    assert re.search(r"✓ webhooks: channel 1 \(whatsapp, Demo number\): [1-9]\d* received in the last 7 days", out)
    shop_hook = "http://127.0.0.1:8080/webhooks/woocommerce/1"
    assert f"! webhooks: shop 1 (woocommerce, Demo shop): none received at {shop_hook} in the last 7 days" in out
    assert "fix: run `connector webhooks register shop 1`" in out and "`connector webhooks test shop 1`" in out
    assert "fix: set [server] public_url" in out  # a config file without it: platforms cannot reach 127.0.0.1
    assert "! scheduler: no scheduled job has run yet" in out
    connected.shop.stop()  # the shop goes away: its credentials check fails and says so
    result = run_cli("--config", str(path), "doctor")
    assert result.returncode == 1
    assert (
        "✗ credentials: shop 1" in result.stdout
        and "fix: `connector connections set shop 1 --set KEY=VALUE`" in result.stdout
    )


def test_doctor_names_a_broken_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[worker]\nthreads = 0\n")
    result = run_cli("--config", str(bad), "doctor")
    assert result.returncode == 1
    assert "worker.threads" in result.stdout


@pytest.mark.parametrize("language", ["de"])
def test_dashboard_add_user_command(runtime: Runtime, tmp_path: Path, language: str) -> None:
    path = config_file(tmp_path, runtime)
    result = run_cli(
        "--config", str(path), "dashboard", "add-user", EMAIL, "--password", PASSWORD, "--language", language
    )
    assert result.returncode == 0, result.stderr
    assert authenticate(runtime, EMAIL, PASSWORD, "127.0.0.1").language == language
    again = run_cli("--config", str(path), "dashboard", "add-user", EMAIL, "--password", PASSWORD)
    assert again.returncode == 1 and "exists already" in again.stderr


def test_the_wizard_progress_bar_follows_the_full_sync_not_a_webhook_triggered_one(connected: Connected) -> None:
    """A shop webhook starts a targeted sync (the wizard's own test webhook does); it must not take over the bar of
    the first full sync, which then showed 0% next to "Sync finished"."""
    from connector.dashboard.wizard import sync_progress
    from connector.db.models import SyncRun

    rt = connected.live.runtime
    with rt.db.session() as session:
        session.add(SyncRun(shop_connection_id=connected.shop_id, mode="items", trigger="webhook", status="running"))
    progress = sync_progress(rt, connected.shop_id, connected.channel_id)
    assert progress["run"].mode == "full" and progress["run"].status == "succeeded"
    assert progress["percent"] == 100
