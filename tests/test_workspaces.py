"""Workspaces and roles through the real Flask app, on SQLite and PostgreSQL.

Two workspaces (alpha and bravo) each hold a shop with a channel, a contact, messages, an order from chat, a
catalog item, a sync run, webhooks and consent. The owner of alpha (a dashboard user, and an API token) walks EVERY
route of the app with bravo's ids: each route that names an object answers exactly as for an id that does not exist
(404), and no response shows anything of bravo. The routes are read from the app's URL map (and the API's OpenAPI
document), so a route added later is walked too; a route that is neither the dashboard's nor the API's must be
listed in :data:`PUBLIC` with why it needs no login, or the walk fails.

An agent of alpha is refused (403) every dashboard page and API operation but the inbox and the contacts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from connector.api.auth import create_token
from connector.dashboard.users import create_user
from connector.db.migrate import downgrade, upgrade
from connector.db.models import (
    ApiToken,
    CatalogItem,
    ChannelConnection,
    Contact,
    InboundMessage,
    OutboundMessage,
    ShopConnection,
    ShopVariant,
    SyncRun,
    WebhookEvent,
    Workspace,
)
from connector.db.models_dashboard import DashboardUser
from connector.db.models_notify import Consent
from connector.db.models_sales import Campaign, Segment
from connector.notify.consent import record_opt_in
from connector.plugins import Plugins
from connector.roles import AGENT_ENDPOINTS, AGENT_OPERATIONS, DEPLOYMENT_ENDPOINTS
from connector.runtime import Runtime
from connector.workspaces import create_workspace
from tests.conftest import make_config
from tests.dashboard.conftest import csrf_of
from tests.test_api_shop_tokens import PARAM, _fields

PASSWORD = "correct horse battery"
#: A phone number sent where a form asks for one (what a page echoes of the request is no leak).
ELSEWHERE = "4915100000999"

#: Every route that needs no dashboard login and no API token, and why.
PUBLIC = {
    "dashboard.login": "the login form",
    "dashboard.first_user": "the first account, with a one-time setup link only",
    "dashboard.set_language": "switches the language of the visitor's own session",
    "dashboard.static": "CSS and JavaScript",
    "meta_onboarding_static.static": "the Meta signup page's JavaScript",
    "dashboard_public.opt_in": "the website widget's opt-in request (confirmed by the customer on WhatsApp)",
    "notify_public.subscribe": "the shop page's back-in-stock request (confirmed by the customer on WhatsApp)",
    "notify_public.preflight": "CORS preflight of the above",
    "webhooks.receive": "platform webhooks, each checked by the platform's signature",
    "healthz": "liveness probe",
    "readyz": "readiness probe",
    "static": "static files",
    "greeter.hello": "the example plugin's greeting",
    "api-docs.openapi_json": "the API's OpenAPI document",
    "metrics.metrics_view": "bearer token, deployment-wide: tested in test_metrics_are_the_operators",
    "meta_app_webhooks.receive_app": "Meta's app-level webhooks, each checked by a connection's app secret",
    "woocommerce_onboarding.callback": "WooCommerce posts the approved keys here, checked by the one-time state",
    "shopware_onboarding.register": "Shopware's app registration, checked by the app secret's signature",
    "shopware_onboarding.confirm": "Shopware's registration confirmation, checked by the shop secret's signature",
    "shopware_onboarding.lifecycle_event": "Shopware's app lifecycle webhooks, checked by the shop secret",
}
#: API operations that name no object: they make or read something in the caller's own workspace.
OWN_WORKSPACE = {
    "campaigns_api.create_segment": "a new segment of the caller's workspace",
    "campaigns_api.preview_filters": "a filter over the caller's own contacts",
}
#: Dashboard routes the walk does not call, and why (the test below covers each otherwise).
NOT_WALKED = {"dashboard.logout": "ends the walking session; it names no object"}


@dataclass
class Tenant:
    """One workspace's ids and the word its rows carry (so a response can be searched for it)."""

    tag: str
    workspace_id: int
    shop_id: int
    channel_id: int
    contact_id: int
    message_id: int
    phone: str
    segment_id: int = 0
    campaign_id: int = 0


@dataclass
class World:
    runtime: Runtime
    app: Flask
    alpha: Tenant
    bravo: Tenant


def _tenant(rt: Runtime, tag: str, phone: str) -> Tenant:
    """A workspace named ``tag`` with a shop holding rows of every kind the pages and the API show."""
    workspace_id = create_workspace(rt, tag)
    now = datetime.now(UTC)
    with rt.db.session() as session:
        shop = ShopConnection(name=f"Shop {tag}", platform="woocommerce", settings={}, workspace_id=workspace_id)
        session.add(shop)
        session.flush()
        # A Graph URL that is not Meta's makes it a simulator channel in demo mode (nothing listens there).
        channel = ChannelConnection(
            shop_connection_id=shop.id,
            name=f"Number {tag}",
            channel="whatsapp",
            settings={"graph_url": f"http://127.0.0.1:9/{tag}"},
        )
        session.add(channel)
        session.flush()
        variant = ShopVariant(
            shop_connection_id=shop.id,
            external_id=f"var-{tag}",
            product_external_id=f"prod-{tag}",
            title=f"Widget {tag}",
            data={},
            content_hash=f"hash-{tag}",
        )
        contact = Contact(
            channel_connection_id=channel.id,
            channel_user_id=phone,
            phone=phone,
            name=f"Customer {tag}",
            last_inbound_at=now,
        )
        session.add_all([variant, contact, SyncRun(shop_connection_id=shop.id, mode="full", trigger=f"seed-{tag}")])
        session.flush()
        message = OutboundMessage(
            channel_connection_id=channel.id,
            contact_id=contact.id,
            recipient=phone,
            kind="back_in_stock",
            payload={"text": f"back in stock {tag}"},
            idempotency_key=f"seed-{tag}",
            status="failed",
            error=f"failed {tag}",
            cost=0.05,
            currency="EUR",
        )
        cart = {"lines": [{"variant_external_id": f"var-{tag}", "quantity": 1, "unit_price": {"amount": "9.50"}}]}
        session.add_all(
            [
                message,
                InboundMessage(
                    channel_connection_id=channel.id,
                    contact_id=contact.id,
                    message_id=f"wamid.{tag}",
                    type="InboundCart",
                    data=cart,
                    received_at=now,
                ),
                CatalogItem(
                    channel_connection_id=channel.id,
                    shop_variant_id=variant.id,
                    retailer_id=f"retailer-{tag}",
                    status="error",
                    errors=[{"message": f"refused {tag}"}],
                ),
                SyncRun(shop_connection_id=shop.id, mode="delta", trigger="api", status="failed", errors=[tag]),
            ]
        )
        for kind, connection_id in (("shop", shop.id), ("channel", channel.id)):
            session.add(
                WebhookEvent(
                    connection_kind=kind,
                    connection_id=connection_id,
                    adapter="seed",
                    delivery_id=f"delivery-{kind}-{tag}",
                    topic=f"topic-{tag}",
                    method="POST",
                    url=f"http://seed/{tag}",
                    headers={},
                    body=b"{}",
                    status="failed",
                    error=f"failed {tag}",
                )
            )
        session.flush()
        ids = (shop.id, channel.id, contact.id, message.id)
        segment = Segment(workspace_id=workspace_id, name=f"Segment {tag}", filters={})
        session.add(segment)
        session.flush()
        campaign = Campaign(
            workspace_id=workspace_id, name=f"Campaign {tag}", segment_id=segment.id, channel_connection_id=channel.id,
            template=f"template_{tag}", language="en_US", parameters=[], excluded={},
        )  # fmt: skip
        session.add(campaign)
        session.flush()
        campaign_ids = (segment.id, campaign.id)
    record_opt_in(rt, contact_id=ids[2], purpose="marketing", source=f"seed-{tag}", text=f"I agree ({tag})")
    return Tenant(tag, workspace_id, *ids, phone, *campaign_ids)


@pytest.fixture(scope="module")
def module_plugins() -> Plugins:
    return Plugins()


@pytest.fixture
def world(database_url: str, module_plugins: Plugins) -> Iterator[World]:
    rt = Runtime(make_config(database_url, server={"demo": True}), plugins=module_plugins)  # with the simulator
    upgrade(rt.db)
    from connector.web.app import create_app

    app = create_app(runtime=rt)
    app.testing = True
    alpha = _tenant(rt, "alpha", "4915100000111")
    bravo = _tenant(rt, "bravo", "4915100000222")
    for role in ("owner", "agent"):
        create_user(rt, f"{role}@alpha.example", PASSWORD, workspace="alpha", role=role)
    create_user(rt, "owner@bravo.example", PASSWORD, workspace="bravo")
    yield World(rt, app, alpha, bravo)
    rt.close()


def _logged_in(world: World, email: str) -> tuple[Any, str]:
    """A test client logged in as ``email``, and its CSRF token."""
    client = world.app.test_client()
    token = csrf_of(client.get("/dashboard/login").text)
    response = client.post("/dashboard/login", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert response.status_code == 302, response.text
    return client, csrf_of(client.get("/dashboard/contacts").text)  # login starts a new session, with a new token


def _mentions(text: str, tenant: Tenant) -> list[str]:
    """What of ``tenant`` a response shows: its tag or phone."""
    return [word for word in (tenant.tag, tenant.phone) if word in text]


def _rules(app: Flask) -> list[tuple[str, str, str]]:
    """Every ``(endpoint, method, rule)`` of the app."""
    return sorted(
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    )


def _dashboard_rules(app: Flask) -> list[tuple[str, str, str]]:
    """The dashboard's pages, and the plugins' pages under its address (the approval flows: login required)."""
    return [
        r
        for r in _rules(app)
        if (r[0].startswith("dashboard.") or r[2].startswith("/dashboard/")) and r[0] not in PUBLIC
    ]


def _api_rules(app: Flask) -> list[tuple[str, str, str]]:
    return [r for r in _rules(app) if r[2].startswith("/api/v1/") and r[0] not in PUBLIC]


def _path(rule: str, tenant: Tenant | None, kind: str | None = None) -> str:
    """``rule`` with ``tenant``'s ids (``None``: ids that do not exist)."""
    ids = {
        "contact_id": tenant.contact_id if tenant else 999_999,
        "channel_id": tenant.channel_id if tenant else 999_999,
        "message_id": tenant.message_id if tenant else 999_999,
        "name": "example_greeter",
        "fmt": "svg",
        "code": "en",
        "filename": "dashboard.css",
        # The Meta prerequisite checks are the deployment's (its Meta app, its address), no workspace's objects:
        # an unknown one is walked (404 both ways); test_meta_onboarding runs the real ones.
        "key": "nope",
        "connection_id": tenant.channel_id if tenant else 999_999,  # .../channel/<connection_id>/...
        "segment_id": tenant.segment_id if tenant else 999_999,
        "campaign_id": tenant.campaign_id if tenant else 999_999,
    }
    if kind is not None:
        ids["kind"] = kind
        ids["connection_id"] = (tenant.shop_id if kind == "shop" else tenant.channel_id) if tenant else 999_999
    return PARAM.sub(lambda m: str(ids[m.group(1)]), rule.replace("<any(shop,channel):kind>", "<kind>"))


def _kinds(rule: str) -> list[str | None]:
    return ["shop", "channel"] if "kind>" in rule else [None]


def _form(csrf: str, tenant: Tenant) -> dict[str, Any]:
    """Every form field a dashboard POST reads, naming ``tenant``'s objects."""
    return {
        "csrf_token": csrf,
        "channel": tenant.channel_id,
        "customer": ELSEWHERE,
        "shop": tenant.shop_id,
        "contact_id": tenant.contact_id,
        "job_id": "nope",
        "enabled": "0",
        "action": "text",
        "text": "hello",
        "phone": ELSEWHERE,
    }


def test_every_route_is_either_walked_or_listed_as_public(world: World) -> None:
    unclassified = [
        r
        for r in _rules(world.app)
        if r[0] not in PUBLIC and r not in _dashboard_rules(world.app) + _api_rules(world.app)
    ]
    assert unclassified == [], "classify these routes: dashboard (login), /api/v1 (token) or PUBLIC with a reason"
    assert len(_dashboard_rules(world.app)) >= 25 and len(_api_rules(world.app)) >= 15


def test_a_user_of_one_workspace_gets_404_for_every_object_of_another(world: World) -> None:
    bravo = world.bravo
    client, csrf = _logged_in(world, "owner@alpha.example")
    walked = 0
    for endpoint, method, rule in _dashboard_rules(world.app):
        if endpoint in NOT_WALKED:
            continue
        for kind in _kinds(rule):
            path = _path(rule, bravo, kind)
            form = _form(csrf, bravo)
            call = client.get if method == "GET" else client.post
            response = call(path, query_string={"channel": bravo.channel_id, "customer": ELSEWHERE}, data=form)
            walked += 1
            text = response.get_data().decode("utf-8", "replace")  # a download (the Shopware app zip) is bytes
            where = f"{method} {path}: {response.status_code} {text[:300]}"
            assert not _mentions(text, bravo), where
            assert response.status_code < 500, where
            if endpoint in DEPLOYMENT_ENDPOINTS:
                assert response.status_code == 403, where  # alpha is not the operator's workspace
            elif "<" in rule:
                missing = call(_path(rule, None, kind), data=form)
                assert response.status_code == missing.status_code == 404, where
    assert walked >= 25
    _bravo_is_untouched(world)


def test_a_token_of_one_workspace_gets_404_for_every_object_of_another(world: World) -> None:
    bravo = world.bravo
    client = world.app.test_client()
    headers = {"Authorization": f"Bearer {create_token(world.runtime, 'alpha', workspace='alpha')}"}
    body = {
        "shop_connection_id": bravo.shop_id,
        "contact_id": bravo.contact_id,
        "name": "new",
        "platform": "woocommerce",
        "channel": "whatsapp",
        "settings": {},
        "mode": "full",
        "to": bravo.phone,
        "text": "hello",
        "language": "en",
        "variant_external_id": f"var-{bravo.tag}",
        "channel_connection_id": bravo.channel_id,
        "segment_id": bravo.segment_id,
        "template": "winter_sale",
        "purpose": "marketing",
        "granted": False,
    }
    document = client.get("/api/v1/openapi.json").json
    documented = {
        (method.upper(), path): _fields(document, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    walked = 0
    for endpoint, method, rule in _api_rules(world.app):
        # The fields the operation accepts (more is a 422); the notifications API is not in the document.
        body_fields, query_fields = documented.get((method, PARAM.sub(r"{\1}", rule)), (None, None))
        sent = {k: v for k, v in body.items() if body_fields is None or k in body_fields}
        query = {"shop_connection_id": bravo.shop_id, "channel_connection_id": bravo.channel_id}
        params = {k: v for k, v in query.items() if query_fields is None or k in query_fields}
        for kind in _kinds(rule):
            path = _path(rule, bravo, kind)
            response = client.open(
                path, method=method, headers=headers, query_string=params, json=None if method == "GET" else sent
            )
            walked += 1
            where = f"{method} {path}: {response.status_code} {response.text[:300]}"
            assert not _mentions(response.text, bravo), where
            assert response.status_code < 500, where
            if "<" in rule:
                missing = client.open(_path(rule, None, kind), method=method, headers=headers, json=sent)
                assert response.status_code == missing.status_code == 404, where
            elif endpoint in OWN_WORKSPACE:
                assert response.status_code in (200, 201), where  # made in, or read from, alpha's own workspace
            elif method != "GET" and endpoint != "connections.ShopConnections":
                assert response.status_code == 404, where  # each names bravo's shop or contact in its body
            elif endpoint == "plugins.list_plugins":
                assert response.status_code == 403 and "operator" in response.json["message"], where
            else:
                assert response.status_code in (200, 422), where
    assert walked >= 15 and len(documented) >= 10
    _bravo_is_untouched(world)


def _bravo_is_untouched(world: World) -> None:
    bravo, rt = world.bravo, world.runtime
    with rt.db.session() as session:
        shop = session.get(ShopConnection, bravo.shop_id)
        channel = session.get(ChannelConnection, bravo.channel_id)
        assert shop is not None and shop.enabled and shop.name == "Shop bravo"
        assert channel is not None and channel.enabled and channel.name == "Number bravo"
        assert session.get(Contact, bravo.contact_id) is not None
        consent = session.scalar(select(Consent).where(Consent.contact_id == bravo.contact_id))
        assert consent is not None and consent.granted
        runs = select(func.count()).where(SyncRun.shop_connection_id == bravo.shop_id)
        assert session.scalar(runs) == 2


def test_the_pages_list_only_the_users_workspace(world: World) -> None:
    alpha, bravo = world.alpha, world.bravo
    client, _ = _logged_in(world, "owner@alpha.example")
    for page in ("/dashboard/", "/dashboard/catalog", "/dashboard/contacts", "/dashboard/notifications"):
        text = client.get(page).text
        assert alpha.tag in text and not _mentions(text, bravo), page
    orders = client.get("/dashboard/orders").text
    assert f"Customer {alpha.tag}" in orders and bravo.tag not in orders
    plugins = client.get("/dashboard/plugins").text
    assert f"Shop {alpha.tag}" in plugins and bravo.tag not in plugins
    assert "its operator changes them" in plugins
    other, _ = _logged_in(world, "owner@bravo.example")
    assert f"Customer {bravo.tag}" in other.get("/dashboard/contacts").text
    export = other.get(f"/dashboard/contacts/{bravo.contact_id}/export.json")
    assert export.status_code == 200 and bravo.phone in export.text


def test_an_agent_is_refused_every_owner_page_and_allowed_the_inbox_and_contacts(world: World) -> None:
    alpha = world.alpha
    client, csrf = _logged_in(world, "agent@alpha.example")
    assert client.get("/dashboard/login", follow_redirects=False).status_code == 200
    refused = 0
    for endpoint, method, rule in _dashboard_rules(world.app):
        if endpoint in AGENT_ENDPOINTS or endpoint in NOT_WALKED:
            continue
        for kind in _kinds(rule):
            call = client.get if method == "GET" else client.post
            response = call(_path(rule, alpha, kind), data=_form(csrf, alpha))
            assert response.status_code == 403, f"{method} {rule}: {response.status_code}"
            assert "agents may only use the inbox and the contacts page" in response.text
            refused += 1
    assert refused >= 25
    contacts = client.get("/dashboard/contacts")
    assert contacts.status_code == 200 and f"Customer {alpha.tag}" in contacts.text
    inbox = client.get("/dashboard/inbox")  # the inbox is the agents' too, with their workspace's conversations
    assert inbox.status_code == 200 and f"Customer {alpha.tag}" in inbox.text and world.bravo.tag not in inbox.text
    thread = client.get(f"/dashboard/inbox/{alpha.contact_id}")
    assert thread.status_code == 200 and 'id="reply-text"' in thread.text
    assert "export.json" not in contacts.text and "/erase" not in contacts.text  # no buttons it may not use
    nav = re.findall(r'href="(/dashboard[^"]*)"', contacts.text)
    assert "/dashboard/catalog" not in nav and "/dashboard/" not in nav
    with world.runtime.db.session() as session:
        assert session.get(Contact, alpha.contact_id) is not None  # the refused erase erased nothing
    assert client.get("/dashboard/no-such-page").status_code == 404  # as for anyone


def test_an_agent_logs_in_to_the_contacts(world: World) -> None:
    client = world.app.test_client()
    csrf = csrf_of(client.get("/dashboard/login").text)
    response = client.post(
        "/dashboard/login", data={"csrf_token": csrf, "email": "agent@alpha.example", "password": PASSWORD}
    )
    assert response.headers["Location"].endswith("/dashboard/contacts")


def test_an_agent_token_may_only_use_the_inbox_and_the_contacts_consent(world: World) -> None:
    alpha = world.alpha
    client = world.app.test_client()
    headers = {"Authorization": f"Bearer {create_token(world.runtime, 'agent', workspace='alpha', role='agent')}"}
    for _, method, rule in _api_rules(world.app):
        if (method, rule) in AGENT_OPERATIONS:
            continue
        for kind in _kinds(rule):
            response = client.open(_path(rule, alpha, kind), method=method, headers=headers, json={})
            assert response.status_code == 403, f"{method} {rule}: {response.status_code}"
            assert (
                "agent tokens may only use the inbox and read and change contacts' consent" in response.json["message"]
            )
    inbox = client.get("/api/v1/inbox/", headers=headers)
    assert inbox.status_code == 200 and [c["contact_id"] for c in inbox.json["items"]] == [alpha.contact_id]
    consent = client.get(f"/api/v1/notifications/consent/{alpha.contact_id}", headers=headers)
    assert consent.status_code == 200 and consent.json["consent"]["marketing"]["granted"] is True
    other = client.get(f"/api/v1/notifications/consent/{world.bravo.contact_id}", headers=headers)
    assert other.status_code == 404


def test_deployment_wide_pages_are_the_operators(world: World) -> None:
    create_user(world.runtime, "operator@example.com", PASSWORD, workspace=1)
    operator, csrf = _logged_in(world, "operator@example.com")
    assert operator.get("/dashboard/jobs").status_code == 200
    assert operator.post("/dashboard/jobs/run", data={"csrf_token": csrf, "job_id": "nope"}).status_code == 404
    # The operator's workspace holds neither tenant's shops.
    assert not _mentions(operator.get("/dashboard/contacts").text, world.alpha)
    owner, _ = _logged_in(world, "owner@alpha.example")
    assert owner.get("/dashboard/jobs").status_code == 403


def test_metrics_are_the_operators(world: World) -> None:
    client = world.app.test_client()
    tenant = {"Authorization": f"Bearer {create_token(world.runtime, 'alpha', workspace='alpha')}"}
    refused = client.get("/metrics", headers=tenant)
    assert refused.status_code == 403 and "only the operator's workspace" in refused.json["message"]
    operator = {"Authorization": f"Bearer {create_token(world.runtime, 'ops', workspace=1, scope='read')}"}
    assert client.get("/metrics", headers=operator).status_code == 200


def test_new_objects_go_into_the_creators_workspace(world: World) -> None:
    client = world.app.test_client()
    headers = {"Authorization": f"Bearer {create_token(world.runtime, 'alpha', workspace='alpha')}"}
    graph = world.runtime.plugins.sandboxes()["woocommerce"]()
    graph.start()
    try:
        settings = graph.connection_settings()
        made = client.post(
            "/api/v1/connections/shops",
            headers=headers,
            json={"name": "Alpha two", "platform": "woocommerce", "settings": settings},
        )
    finally:
        graph.stop()
    assert made.status_code == 201, made.text
    with world.runtime.db.session() as session:
        assert session.get(ShopConnection, made.json["id"]).workspace_id == world.alpha.workspace_id
    listed = {c["name"] for c in client.get("/api/v1/connections/", headers=headers).json}
    assert listed == {"Shop alpha", "Number alpha", "Alpha two"}


def test_with_several_workspaces_a_new_object_must_name_one(world: World) -> None:
    from connector.errors import SettingsError

    with pytest.raises(SettingsError, match="several workspaces"):
        create_token(world.runtime, "where?")
    with pytest.raises(SettingsError, match="no workspace nowhere"):
        create_user(world.runtime, "x@example.com", PASSWORD, workspace="nowhere")
    token = create_token(world.runtime, "shop of bravo", shop_connection_id=world.bravo.shop_id)
    with world.runtime.db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "shop of bravo"))
        assert row is not None and row.workspace_id == world.bravo.workspace_id
    assert token.startswith("cs_")


# --------------------------------------------------------------------------- a single-shop install


def test_the_migration_moves_everything_into_one_default_workspace(database_url: str) -> None:
    """Rows from before workspaces land in the default (operator's) workspace, users and tokens as owners: the
    install works as before."""
    from sqlalchemy import text

    from connector.db import Database

    db = Database(database_url)
    try:
        upgrade(db, "b_obs")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO shop_connections (name, platform, settings, enabled, created_at) "
                    "VALUES ('Old shop', 'woocommerce', '{}', true, CURRENT_TIMESTAMP)"
                )
            )
            # A channel and a contact of the shop: SQLite copies shop_connections to alter it, and must not
            # cascade-delete what hangs off the shop while it does.
            conn.execute(
                text(
                    "INSERT INTO channel_connections (shop_connection_id, name, channel, settings, enabled, created_at)"
                    " VALUES (1, 'Old number', 'whatsapp', '{}', true, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO contacts (channel_connection_id, channel_user_id, name, created_at)"
                    " VALUES (1, '4915100000333', 'Old customer', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO dashboard_users (email, password_hash, language, active, session_version, created_at)"
                    " VALUES ('old@example.com', 'x', '', true, 1, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO api_tokens (name, token_hash, scope, created_at) "
                    "VALUES ('old', 'abc', 'write', CURRENT_TIMESTAMP)"
                )
            )
        upgrade(db)
        with db.session() as session:
            (workspace,) = session.scalars(select(Workspace)).all()
            assert workspace.operator and workspace.name == "Default"
            assert session.scalars(select(ShopConnection.workspace_id)).all() == [workspace.id]
            user = session.scalars(select(DashboardUser)).one()
            assert (user.workspace_id, user.role) == (workspace.id, "owner")
            token = session.scalars(select(ApiToken)).one()
            assert (token.workspace_id, token.role) == (workspace.id, "owner")
            assert session.scalars(select(ChannelConnection.name)).all() == ["Old number"]
            assert session.scalars(select(Contact.name)).all() == ["Old customer"]
            session.add(Workspace(name="Second"))  # the id sequence moved past the default's explicit id
        downgrade(db, "b_obs")  # and back: the rows stay
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM contacts")).scalar() == 1
    finally:
        db.dispose()


def test_a_single_workspace_install_needs_no_workspace_anywhere(runtime: Runtime, client: Any) -> None:
    with runtime.db.session() as session:
        shop = ShopConnection(name="Only shop", platform="woocommerce", settings={})
        session.add(shop)
    create_user(runtime, "owner@example.com", PASSWORD)
    headers = {"Authorization": f"Bearer {create_token(runtime, 'all')}"}
    assert [c["name"] for c in client.get("/api/v1/connections/", headers=headers).json] == ["Only shop"]
    token = csrf_of(client.get("/dashboard/login").text)
    client.post("/dashboard/login", data={"csrf_token": token, "email": "owner@example.com", "password": PASSWORD})
    assert "Only shop" in client.get("/dashboard/").text
    assert client.get("/dashboard/jobs").status_code == 200  # the default workspace is the operator's


# --------------------------------------------------------------------------- the command line


def test_workspaces_from_the_command_line(tmp_path: Path) -> None:
    from connector.config import load_config
    from tests.test_cli import connector

    assert connector("init", cwd=tmp_path).returncode == 0
    made = connector("workspaces", "create", "Agency client", cwd=tmp_path)
    assert made.returncode == 0 and "created workspace 2" in made.stdout, made.stderr
    assert connector("workspaces", "create", "Agency client", cwd=tmp_path).returncode != 0
    rt = Runtime(load_config(tmp_path / "connector.toml"))
    try:
        with rt.db.session() as session:
            shop = ShopConnection(name="Client shop", platform="woocommerce", settings={}, workspace_id=2)
            session.add(shop)
            session.flush()
            shop_id = shop.id
    finally:
        rt.close()
    needs = connector("tokens", "create", "bot", cwd=tmp_path)
    assert needs.returncode != 0 and "several workspaces" in needs.stderr
    token = connector("tokens", "create", "bot", "--workspace", "Agency client", "--role", "agent", cwd=tmp_path)
    assert token.returncode == 0, token.stderr
    listed = json.loads(connector("tokens", "list", "--json", "--workspace", "2", cwd=tmp_path).stdout)
    assert [(t["name"], t["role"], t["workspace_id"]) for t in listed] == [("bot", "agent", 2)]
    default = json.loads(connector("connections", "list", "--json", "--workspace", "1", cwd=tmp_path).stdout)
    assert default == []
    client = json.loads(connector("connections", "list", "--json", "--workspace", "2", cwd=tmp_path).stdout)
    assert [c["name"] for c in client] == ["Client shop"]
    refused = connector("connections", "disable", "shop", str(shop_id), "--workspace", "1", cwd=tmp_path)
    assert refused.returncode != 0 and f"no shop connection {shop_id} in workspace 1" in refused.stderr
    hooks = connector("webhooks", "list", "shop", str(shop_id), "--workspace", "Default", cwd=tmp_path)
    assert hooks.returncode != 0 and f"no shop connection {shop_id} in workspace Default" in hooks.stderr
    user = connector(
        "dashboard",
        "add-user",
        "agent@client.example",
        "--password",
        PASSWORD,
        "--workspace",
        "2",
        "--role",
        "agent",
        cwd=tmp_path,
    )
    assert user.returncode == 0, user.stderr
    table = json.loads(connector("workspaces", "list", "--json", cwd=tmp_path).stdout)
    assert {(w["name"], w["shops"], w["users"], w["tokens"]) for w in table} == {
        ("Default", 0, 0, 1),
        ("Agency client", 1, 1, 1),
    }
    moved = connector("workspaces", "move-shop", str(shop_id), "Default", cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    again = json.loads(connector("connections", "list", "--json", "--workspace", "Default", cwd=tmp_path).stdout)
    assert [c["name"] for c in again] == ["Client shop"]
