"""Connect WhatsApp, Messenger and Instagram by approving in Meta's (sandbox) window: the connector's side over real
HTTP, from the click to a tested connection whose webhooks arrive, and each refusal (replayed, foreign or unknown
state, an expired code, a cancelled window)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from connector_meta.sandbox.signup import walk_window

from connector.dashboard.queries import webhook_count
from connector.dashboard.sandboxes import settings_for

from .conftest import EMAIL, PASSWORD, Live, csrf_of, wait_until

CUSTOMER = "4915112345678"


@pytest.fixture
def shop(live: Live) -> Iterator[int]:
    """A connected WooCommerce sandbox shop: the channel step comes after the shop step."""
    rt = live.runtime
    sandbox = rt.plugins.sandboxes()["woocommerce"]()
    sandbox.start()
    try:
        row = rt.connections.create_shop(
            name="Demo shop",
            platform="woocommerce",
            settings=settings_for(rt.plugins.shop_adapters["woocommerce"], sandbox.connection_settings()),
        )
        yield row.id
    finally:
        sandbox.stop()


def logged_in(live: Live) -> requests.Session:
    client = requests.Session()
    token = csrf_of(client.get(live.dashboard("/login"), timeout=30).text)
    answer = client.post(
        live.dashboard("/login"), data={"csrf_token": token, "email": EMAIL, "password": PASSWORD}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    return client


@pytest.fixture
def client(live: Live, shop: int) -> requests.Session:
    return logged_in(live)


def graph_sandbox(live: Live) -> Any:
    return live.server.app.extensions["dashboard_sandboxes"].get("graph")


def start(live: Live, client: requests.Session, path: str = "/setup/meta/whatsapp", **params: str) -> str:
    """Click 'Connect ...': the connector answers with Meta's window."""
    answer = client.get(live.dashboard(path), params=params, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def relay(live: Live, client: requests.Session, event: dict[str, Any]) -> requests.Response:
    """What meta_signup.js does with the window's message event."""
    token = csrf_of(client.get(live.dashboard("/setup/channel"), timeout=30).text)
    return client.post(
        live.dashboard("/setup/meta/event"), json={"event": event}, headers={"X-CSRF-Token": token}, timeout=30
    )


def back(client: requests.Session, target: str) -> requests.Response:
    """The window redirects the owner back to the connector's callback."""
    return client.get(target, allow_redirects=False, timeout=120)


def test_connect_whatsapp_by_approving(live: Live, client: requests.Session, shop: int) -> None:
    window = start(live, client)
    query = parse_qs(urlsplit(window).query)
    assert query["response_type"] == ["code"] and query["extras"] == ['{"setup":{}}']
    assert query["redirect_uri"] == [live.dashboard("/setup/meta/callback")]
    event, target = walk_window(window)
    assert relay(live, client, event).json() == {"kept": True}
    answer = back(client, target)
    assert answer.status_code == 200 and 'id="meta-done"' in answer.text, answer.text

    rt = live.runtime
    graph = graph_sandbox(live)
    offered = graph.connection_settings()
    (channel,) = rt.connections.channels()
    settings = rt.connections.settings_of(channel)
    assert channel.channel == "whatsapp" and channel.shop_connection_id == shop
    assert settings["phone_number_id"] == offered["phone_number_id"] and settings["waba_id"] == offered["waba_id"]
    assert settings["catalog_id"] == offered["catalog_id"]
    assert settings["access_token"].startswith("EAAG") and settings["access_token"] != offered["access_token"]
    assert len(settings["two_step_pin"]) == 6 and settings["two_step_pin"].isdigit()
    for secret in ("access_token", "app_secret", "verify_token", "two_step_pin"):  # stored encrypted
        assert secret not in channel.settings and settings[secret] not in (channel.secrets or "")

    done = requests.get(f"{offered['graph_url']}/_sandbox/signup", timeout=10).json()
    hook = rt.connections.webhook_url("whatsapp", channel.id)
    assert done["waba_subscription"] == {"override_callback_uri": hook}
    assert done["registered"] == [offered["phone_number_id"]] and done["syncs"] == {}
    assert done["connected_catalogs"] == [offered["catalog_id"]]

    # The customer writes: Meta's webhook reaches the new connection, signed with the app secret.
    since = datetime.now(UTC) - timedelta(minutes=1)
    graph.customer_text(None, CUSTOMER, "Hi")
    wait_until(lambda: webhook_count(rt, "channel", channel.id, since), timeout=60)

    # The wizard goes on with step 3, saying what was connected.
    step = client.get(live.dashboard("/setup/webhooks"), timeout=30)
    assert "Connected to" in step.text


def test_coexistence_keeps_the_business_app_and_asks_for_its_history_instead_of_registering(
    live: Live, client: requests.Session
) -> None:
    window = start(live, client, coexistence="1")
    assert "whatsapp_business_app_onboarding" in parse_qs(urlsplit(window).query)["extras"][0]
    event, target = walk_window(window)
    assert event["event"] == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
    relay(live, client, event)
    assert back(client, target).status_code == 200
    offered = graph_sandbox(live).connection_settings()
    done = requests.get(f"{offered['graph_url']}/_sandbox/signup", timeout=10).json()
    assert done["registered"] == []  # registering would cut the WhatsApp Business app off
    assert set(done["syncs"][offered["phone_number_id"]]) == {"smb_app_state_sync", "history"}
    (channel,) = live.runtime.connections.channels()
    assert live.runtime.connections.settings_of(channel)["two_step_pin"] == ""


def test_a_number_added_in_the_window_is_the_one_connected(live: Live, client: requests.Session) -> None:
    event, target = walk_window(start(live, client), phone_number_id="new", new_number="+49 151 2345 0000")
    relay(live, client, event)  # the event names the picked number
    assert back(client, target).status_code == 200
    (channel,) = live.runtime.connections.channels()
    settings = live.runtime.connections.settings_of(channel)
    assert settings["phone_number_id"] == event["data"]["phone_number_id"]
    offered = graph_sandbox(live).connection_settings()
    done = requests.get(f"{offered['graph_url']}/_sandbox/signup", timeout=10).json()
    assert done["registered"] == [settings["phone_number_id"]]


def test_without_the_event_the_account_is_discovered_from_the_token(live: Live, client: requests.Session) -> None:
    _event, target = walk_window(start(live, client))  # JavaScript off: nobody relays the event
    assert back(client, target).status_code == 200
    (channel,) = live.runtime.connections.channels()
    assert (
        live.runtime.connections.settings_of(channel)["phone_number_id"]
        == graph_sandbox(live).connection_settings()["phone_number_id"]
    )


def test_connecting_the_same_number_again_renews_its_connection(live: Live, client: requests.Session) -> None:
    rt = live.runtime
    _event, target = walk_window(start(live, client))
    assert back(client, target).status_code == 200
    (first,) = rt.connections.channels()
    old_token = rt.connections.settings_of(first)["access_token"]
    _event, target = walk_window(start(live, client))
    assert back(client, target).status_code == 200
    (again,) = rt.connections.channels()  # same connection: contacts, orders and webhook URL stay
    assert again.id == first.id and rt.connections.settings_of(again)["access_token"] != old_token


def test_a_failing_step_takes_the_renewal_back(live: Live, client: requests.Session) -> None:
    rt = live.runtime
    _event, target = walk_window(start(live, client))
    assert back(client, target).status_code == 200
    (first,) = rt.connections.channels()
    before = rt.connections.settings_of(first)
    offered = graph_sandbox(live).connection_settings()
    register = f"{offered['graph_url']}/{offered['api_version']}/{offered['phone_number_id']}/register"
    for _ in range(9):  # someone used up the number's registration attempts (10 per 72 h)
        requests.post(
            register,
            json={"messaging_product": "whatsapp", "pin": "123456"},
            headers={"Authorization": f"Bearer {offered['access_token']}"},
            timeout=10,
        )
    _event, target = walk_window(start(live, client))
    failed = back(client, target)
    assert failed.status_code == 502 and "could not be registered" in failed.text
    assert rt.connections.settings_of(rt.connections.get_channel(first.id)) == before  # the old token still works


def test_a_replayed_callback_is_refused_and_connects_nothing_twice(live: Live, client: requests.Session) -> None:
    _event, target = walk_window(start(live, client))
    assert back(client, target).status_code == 200
    again = back(client, target)
    assert again.status_code == 400 and "already used" in again.text
    assert len(live.runtime.connections.channels()) == 1


def test_a_state_we_did_not_start_or_of_another_user_is_refused(live: Live, client: requests.Session) -> None:
    from connector.dashboard.users import create_user

    _event, target = walk_window(start(live, client))
    forged = target.replace("state=", "state=x")
    assert back(client, forged).status_code == 400
    create_user(live.runtime, "second@example.com", PASSWORD)
    other = requests.Session()
    token = csrf_of(other.get(live.dashboard("/login"), timeout=30).text)
    other.post(
        live.dashboard("/login"),
        data={"csrf_token": token, "email": "second@example.com", "password": PASSWORD},
        timeout=60,
    )
    stolen = back(other, target)
    assert stolen.status_code == 400 and "another dashboard user" in stolen.text
    assert live.runtime.connections.channels() == []


def test_a_code_older_than_30_seconds_says_so_and_connects_nothing(live: Live, client: requests.Session) -> None:
    _event, target = walk_window(start(live, client))
    graph_sandbox(live).advance_clock(31)
    answer = back(client, target)
    assert answer.status_code == 502 and "expired" in answer.text
    assert live.runtime.connections.channels() == []


def test_cancelling_in_the_window_says_where_and_connects_nothing(live: Live, client: requests.Session) -> None:
    event, target = walk_window(start(live, client), choice="cancel")
    relay(live, client, event)
    answer = back(client, target)
    assert answer.status_code == 400 and "You stopped in Meta&#39;s window at phone number setup" in answer.text
    assert live.runtime.connections.channels() == []


def test_connect_facebook_and_instagram_by_approving(live: Live, client: requests.Session) -> None:
    window = start(live, client, "/setup/meta/pages")
    event, target = walk_window(window)
    relay(live, client, event)
    answer = back(client, target)
    assert answer.status_code == 200, answer.text
    rt = live.runtime
    channels = {c.channel: c for c in rt.connections.channels()}
    assert set(channels) == {"messenger", "instagram"}
    offered = graph_sandbox(live).connection_settings()
    messenger = rt.connections.settings_of(channels["messenger"])
    instagram = rt.connections.settings_of(channels["instagram"])
    assert messenger["page_id"] == offered["page_id"] and messenger["page_access_token"].startswith("EAAP")
    done = requests.get(f"{offered['graph_url']}/_sandbox/signup", timeout=10).json()
    assert done["long_lived_user_tokens"] == 1  # Page tokens from a long-lived login do not expire
    assert instagram["instagram_account_id"] == offered["instagram_account_id"]
    assert "messages" in done["page_subscriptions"][offered["page_id"]]
    assert done["webhook_subscriptions"]["page"] == rt.connections.webhook_url("messenger", channels["messenger"].id)
    since = datetime.now(UTC) - timedelta(minutes=1)
    graph_sandbox(live).messenger_text("2411893705", "Hello page")
    wait_until(lambda: webhook_count(rt, "channel", channels["messenger"].id, since), timeout=60)


def test_the_prerequisite_checks_ask_meta(live: Live, client: requests.Session) -> None:
    page = client.get(live.dashboard("/setup/shop"), timeout=30).text
    assert 'id="prerequisites"' in page and 'id="check-meta_app"' in page
    token = csrf_of(page)
    results = {}
    for key in ("meta_app", "tech_provider", "business_verification", "public_https"):
        answer = client.post(
            live.dashboard(f"/setup/meta/check/{key}"),
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
            timeout=60,
        )
        assert answer.status_code == 200
        results[key] = answer.text
    assert 'data-status="ok"' in results["meta_app"] and "Chatshop Connector" in results["meta_app"]
    assert 'data-status="unknown"' in results["tech_provider"]  # Meta's API does not say: we say so
    assert 'data-status="ok"' in results["business_verification"] and "is verified" in results["business_verification"]
    assert 'data-status="ok"' in results["public_https"]  # demo mode


def test_without_a_meta_app_the_button_explains_instead_of_failing(tmp_path: Any, plugins: Any) -> None:
    from .conftest import start_live

    server = start_live(tmp_path, plugins, server={"demo": False})
    try:
        rt = server.runtime
        rt.connections.create_shop(
            name="Shop", platform="woocommerce", settings={"shop_url": "https://shop.example.com",
            "consumer_key": "ck_x", "consumer_secret": "cs_x", "webhook_secret": "whs"}
        )  # fmt: skip
        client = logged_in(server)
        answer = client.get(server.dashboard("/setup/meta/whatsapp"), allow_redirects=False, timeout=30)
        assert answer.status_code == 200 and 'id="meta-not-configured"' in answer.text
        token = csrf_of(answer.text)
        https = client.post(
            server.dashboard("/setup/meta/check/public_https"),
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
            timeout=60,
        )
        assert 'data-status="fail"' in https.text and "not HTTPS" in https.text
        assert "reverse proxy" in https.text and "tunnel" in https.text
        explained = client.get(server.dashboard("/setup/meta/https"), timeout=30).text
        assert "Cloudflare Tunnel" in explained and "Caddy" in explained
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("http://connector.example.com", "not HTTPS"),
        ("https://127.0.0.1:8443", "private or local address"),
        ("https://localhost", "private or local address"),
        ("https://10.1.2.3", "private or local address"),
    ],
)
def test_an_address_the_platforms_cannot_reach_is_named_with_the_ways_out(url: str, found: str) -> None:
    from connector.dashboard.reachability import check_public_https

    verdict = check_public_https(url)
    assert verdict.status == "fail" and found in verdict.detail
    assert "reverse proxy" in verdict.fix and "tunnel" in verdict.fix


def test_doctor_checks_the_meta_prerequisites(live: Live) -> None:
    from connector_meta.onboarding.prerequisites import doctor_checks

    from connector.db.models import PluginSetting

    assert doctor_checks(live.runtime) == []  # no Meta app configured: nothing to say
    offered = graph_sandbox(live).connection_settings()
    with live.runtime.db.session() as session:  # as the Plugins page saves them
        for key in ("app_id", "signup_config_id", "business_id", "graph_url"):
            session.add(PluginSetting(plugin="meta", key=key, value={"value": offered[key]}))
        session.add(PluginSetting(plugin="meta", key="app_secret", secret=live.runtime.secrets.encrypt("wrong")))
    checks = {c.name: c for c in doctor_checks(live.runtime)}
    app = checks["meta: A Meta app (its id and secret in [plugins.meta])"]
    assert app.status == "fail" and "refused" in app.detail
    assert checks["meta: Business verification of the app's business portfolio"].status == "warn"  # not checkable


def test_doctor_says_whether_each_meta_token_is_still_valid(live: Live, client: requests.Session) -> None:
    from connector_meta.onboarding.prerequisites import doctor_checks

    from connector.db.models import PluginSetting

    _event, target = walk_window(start(live, client))
    assert back(client, target).status_code == 200
    (channel,) = live.runtime.connections.channels()
    offered = graph_sandbox(live).connection_settings()
    with live.runtime.db.session() as session:
        for key in ("app_id", "graph_url"):
            session.add(PluginSetting(plugin="meta", key=key, value={"value": offered[key]}))
        session.add(
            PluginSetting(plugin="meta", key="app_secret", secret=live.runtime.secrets.encrypt(offered["app_secret"]))
        )
    label = f"meta: token of channel {channel.id} (whatsapp, {channel.name})"
    checks = {c.name: c for c in doctor_checks(live.runtime)}
    assert checks[label].status == "ok" and "does not expire" in checks[label].detail
    live.runtime.connections.update_settings("channel", channel.id, {"access_token": "EAAGrevoked"})
    checks = {c.name: c for c in doctor_checks(live.runtime)}
    assert checks[label].status == "fail" and "connect it again" in checks[label].fix


def test_every_onboarding_text_has_its_german(live: Live, client: requests.Session) -> None:
    import re
    from pathlib import Path

    from connector_meta.onboarding import prerequisites, web

    from connector.i18n import catalogs

    folder = Path(web.__file__).parent / "templates" / "meta_onboarding"
    texts = {t for f in folder.glob("*.html") for t in re.findall(r'_\("([^"]*)"', f.read_text())}
    texts |= {title for title, _link in prerequisites.ITEMS.values()}
    assert not [t for t in texts if catalogs.gettext("de", t) == t]  # each has its own German in the catalog
    client.get(live.dashboard("/lang/de"), timeout=30)
    page = client.get(live.dashboard("/setup/channel"), timeout=30).text
    assert "WhatsApp verbinden" in page
