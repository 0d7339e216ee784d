"""``GraphSandbox``: one local server for the Graph API paths the connector uses (catalog, WhatsApp Cloud API,
Messenger/Instagram Send API), plus its control API and typed client methods."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, ClassVar

from connector_meta.sandbox.control import control_blueprint
from connector_meta.sandbox.conversions import conversions_blueprint
from connector_meta.sandbox.events import WebhookHub
from connector_meta.sandbox.graph import install
from connector_meta.sandbox.inbound_2026 import inbound_2026_blueprint
from connector_meta.sandbox.signals import signals_blueprint
from connector_meta.sandbox.signup import SignupState, signup_blueprint
from connector_meta.sandbox.state import Business, GraphState, Options
from connector_meta.sandbox.templates import seed_templates
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from connector.sandbox.base import ChannelSandbox

API_VERSION = "v25.0"


class GraphSandbox(ChannelSandbox):
    """The Meta Graph API sandbox. See ``docs/channels/sandbox.md`` for what it enforces.

    ``options`` takes any :class:`~connector_meta.sandbox.state.Options` field (``mps``, ``pair_limit``,
    ``status_out_of_order``...) and any :class:`~connector_meta.sandbox.state.Business` field to override the
    demo business (``app_secret``, ``access_token``, ids).
    """

    name: ClassVar[str] = "graph"

    def create_app(self) -> Flask:
        business_keys = {f.name for f in fields(Business)}
        business = Business(**{k: v for k, v in self.options.items() if k in business_keys})
        options = Options()
        options.update({k: v for k, v in self.options.items() if k not in business_keys})
        self.state = GraphState(business, options)
        seed_templates(self.state)
        self.hub = WebhookHub(self.state)
        app = Flask("graph-sandbox")
        assert isinstance(app.json, DefaultJSONProvider)  # Flask's own, unless an app replaces it
        app.json.sort_keys = False  # keep Meta's key order in answers
        app.register_blueprint(control_blueprint(self.state, self.hub))
        app.register_blueprint(signals_blueprint(self.state, self.hub))
        app.register_blueprint(inbound_2026_blueprint(self.state, self.hub))
        install(app, self.state, self.hub)
        self.signup = SignupState()
        app.register_blueprint(signup_blueprint(self.state, self.hub, self.signup))
        app.register_blueprint(conversions_blueprint(self.state))  # after install: it uses the version converter
        return app

    def stop(self) -> None:
        super().stop()
        self.hub.close()

    def connection_settings(self) -> dict[str, Any]:
        business = self.state.business
        return {
            "graph_url": self.url,
            "api_version": API_VERSION,
            "access_token": business.access_token,
            "app_secret": business.app_secret,
            "verify_token": business.verify_token,
            "phone_number_id": business.phone_number_id,
            "display_phone_number": business.display_phone_number,
            "waba_id": business.waba_id,
            "catalog_id": business.catalog_id,
            "page_id": business.page_id,
            "instagram_account_id": business.instagram_account_id,
            # The Meta app behind Embedded Signup / Facebook Login for Business (``signup.py``).
            "app_id": business.app_id,
            "signup_config_id": business.signup_config_id,
            "login_config_id": business.login_config_id,
            "business_id": business.business_id,
            "dialog_url": self.url,
        }

    # ------------------------------------------------------------------ webhooks

    def subscribe_webhooks(
        self, callback_url: str, *, object: str | None = None, verify_token: str | None = None
    ) -> None:
        """Send webhooks for ``object`` (default: all three) to ``callback_url``. With ``verify_token`` the
        sandbox first runs Meta's ``GET ?hub.mode=subscribe`` handshake and fails unless the challenge is echoed."""
        payload: dict[str, Any] = {"url": callback_url}
        if object is not None:
            payload["object"] = object
        if verify_token is not None:
            payload["verify_token"] = verify_token
        self.control("POST", "webhooks", json=payload)

    def wait_webhooks(self, timeout: float = 10.0) -> dict[str, Any]:
        """Block until every queued webhook was attempted; return delivery counts."""
        return self.control("POST", f"webhooks/flush?timeout={timeout}")

    # ------------------------------------------------------------------ WhatsApp customers

    def _wa(self, phone_number_id: str | None, wa_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = {"phone_number_id": phone_number_id, "wa_id": wa_id, **payload}
        return self.control("POST", "whatsapp/messages", json=body)["message"]

    def customer_text(
        self,
        phone_number_id: str | None,
        wa_id: str,
        text: str,
        *,
        name: str | None = None,
        referred_product: str | Mapping[str, str] | None = None,
        referral: Mapping[str, str] | None = None,
    ) -> str:
        """The customer ``wa_id`` writes ``text``; opens the 24 h window. Returns the inbound wamid.

        ``referred_product``: they wrote with "Message business" on a catalog item (its retailer id, or
        ``{"product_retailer_id", "catalog_id"}`` for another catalog); WhatsApp names it in
        ``context.referred_product``. ``referral``: they came from a Click-to-WhatsApp ad or post (``source_type``,
        ``source_url``, ``source_id``, ``headline``, ``body``, ``ctwa_clid``, ... as Meta sends them). The control
        API refuses what Meta would never send (a product not in the catalog, unknown referral fields)."""
        payload: dict[str, Any] = {"type": "text", "text": text, "name": name}
        if referred_product is not None:
            payload["referred_product"] = (
                {"product_retailer_id": referred_product}
                if isinstance(referred_product, str)
                else dict(referred_product)
            )
        if referral is not None:
            payload["referral"] = dict(referral)
        return self._wa(phone_number_id, wa_id, payload)["id"]

    def whatsapp_received(self, wa_id: str) -> list[dict[str, Any]]:
        """The customer's messages as the business treated them: ``read``, ``typing`` (shown now) and
        ``typing_shown_at`` per message, oldest first."""
        return self.control("GET", f"whatsapp/inbound?wa_id={wa_id}")["messages"]

    def customer_pick_row(self, phone_number_id: str | None, wa_id: str, row_id: str) -> dict[str, Any]:
        """The customer picks row ``row_id`` of the newest list message that offers it."""
        return self._wa(phone_number_id, wa_id, {"type": "list_reply", "row_id": row_id})

    def customer_press_button(self, phone_number_id: str | None, wa_id: str, button: str) -> dict[str, Any]:
        """The customer presses a reply button (by id or title) or a template quick-reply button (by text)."""
        return self._wa(phone_number_id, wa_id, {"type": "button", "button": button})

    def customer_cart(
        self,
        phone_number_id: str | None,
        wa_id: str,
        items: Iterable[tuple[str, int]] | Mapping[str, int],
        *,
        catalog_id: str | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """The customer sends a cart (``order`` message); prices come from the catalog as Meta does."""
        pairs = items.items() if isinstance(items, Mapping) else items
        product_items = [{"product_retailer_id": rid, "quantity": qty} for rid, qty in pairs]
        payload = {"type": "order", "product_items": product_items, "catalog_id": catalog_id, "text": text}
        return self._wa(phone_number_id, wa_id, payload)

    def customer_location(
        self,
        phone_number_id: str | None,
        wa_id: str,
        latitude: float,
        longitude: float,
        *,
        name: str | None = None,
        address: str | None = None,
    ) -> dict[str, Any]:
        """The customer shares a location."""
        payload = {"type": "location", "latitude": latitude, "longitude": longitude, "name": name, "address": address}
        return self._wa(phone_number_id, wa_id, payload)

    # ------------------------------------------------------------------ Messenger / Instagram customers

    def messenger_text(
        self, user_id: str, text: str, *, object: str = "page", referral: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A Messenger (``object="page"``) or Instagram (``"instagram"``) user writes ``text``.

        ``referral`` rides on the message as Meta puts it there: an m.me / ig.me link (``{"ref", "source":
        "SHORTLINK", "type": "OPEN_THREAD"}``), an ad (``source: "ADS"``, ``ad_id``, ``ads_context_data``) or, on
        Instagram, the Shop product written from (``{"product": {"id": retailer_id}}``)."""
        body: dict[str, Any] = {"object": object, "sender": user_id, "text": text}
        if referral is not None:
            body["referral"] = dict(referral)
        return self.control("POST", "messenger/messages", json=body)["event"]

    def messenger_referral(self, user_id: str, referral: Mapping[str, Any], *, object: str = "page") -> dict[str, Any]:
        """The user opens an existing thread from a link or an ad without writing: a ``messaging_referrals`` event
        carrying ``referral`` (``ref``, ``source``, ``type``, ``ad_id``, ``ads_context_data``)."""
        body = {"object": object, "sender": user_id, "referral": dict(referral)}
        return self.control("POST", "messenger/messages", json=body)["event"]

    def messenger_choose(
        self, user_id: str, payload: str, *, object: str = "page", title: str | None = None
    ) -> dict[str, Any]:
        """The user taps the quick reply or postback button with ``payload`` (looked up in what they were sent;
        pass ``title`` for a postback from elsewhere, e.g. the persistent menu)."""
        body = {"object": object, "sender": user_id, "payload": payload, "title": title}
        return self.control("POST", "messenger/messages", json=body)["event"]

    def whatsapp_event(self, wa_id: str, kind: str, *, hide_phone: bool = False, **fields: Any) -> dict[str, Any]:
        """The customer ``wa_id`` sends a 2026 payload (``kind``: image, video, document with ``caption``;
        ``flow_reply`` with ``response`` and ``context_id``; ``number_change`` with ``new_wa_id``;
        ``contact_share``); ``hide_phone``: they hid their number (only the BSUID arrives). Returns the message."""
        body = {"wa_id": wa_id, "kind": kind, "hide_phone": hide_phone, **fields}
        return self.control("POST", "whatsapp/events", json=body)["message"]

    def messenger_event(self, user_id: str, kind: str, *, object: str = "page", **fields: Any) -> dict[str, Any]:
        """A Messenger / Instagram user's ``read`` (``watermark`` ms, or ``mid`` on Instagram), ``edit`` (``mid``,
        ``text``) or Instagram ``unsend`` (``mid``). Returns the ``messaging[]`` event sent."""
        body = {"object": object, "sender": user_id, "kind": kind, **fields}
        return self.control("POST", "messenger/events", json=body)["event"]

    # ------------------------------------------------------------------ state and tuning

    def stats(self) -> dict[str, Any]:
        """Write calls per catalog, messages accepted / refused per error code, send requests received (the ones
        neither accepted nor refused yet are still being answered), webhooks sent."""
        return self.control("GET", "stats")

    def set_options(self, **options: Any) -> dict[str, Any]:
        """Change options live (``mps``, ``pair_limit``, ``bad_recipients``, ``status_out_of_order``...)."""
        return self.control("POST", "options", json=options)

    def add_template(
        self, name: str, body: str, *, language: str = "en_US", category: str = "UTILITY", **extra: Any
    ) -> dict[str, Any]:
        """Register an approved template whose body is ``body`` (``{{1}}`` variables); ``extra`` components via
        ``header`` / ``buttons`` as in Meta's template definition."""
        components: list[dict[str, Any]] = []
        if "header" in extra:
            components.append({"type": "HEADER", **extra["header"]})
        components.append({"type": "BODY", "text": body})
        if "buttons" in extra:
            components.append({"type": "BUTTONS", "buttons": extra["buttons"]})
        definition = {"name": name, "language": language, "category": category, "components": components}
        return self.control("POST", "templates", json=definition)

    def add_page_template(self, name: str, body: str, *, language: str = "en_US") -> dict[str, Any]:
        """The Page creates a Messenger utility template whose body is ``body`` (``{{1}}`` variables), through the
        Graph API as an owner would; it gets the status of the ``page_template_status`` option."""
        components: list[dict[str, str]] = [{"type": "BODY", "text": body}]
        definition: dict[str, Any] = {
            "name": name,
            "language": language,
            "category": "UTILITY",
            "components": components,
        }
        answer = self._http.post(
            f"{self.url}/{API_VERSION}/{self.state.business.page_id}/message_templates",
            json=definition,
            headers={"Authorization": f"Bearer {self.state.business.access_token}"},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()

    def set_page_template_status(self, name: str, status: str, *, language: str = "en_US") -> dict[str, Any]:
        """Meta's review approves or rejects the Page's utility template (``APPROVED``, ``PENDING``, ``REJECTED``)."""
        return self.control(
            "POST", "page_templates/status", json={"name": name, "language": language, "status": status}
        )

    def recategorize_template(
        self, name: str, category: str, *, language: str = "en_US", at: float | None = None
    ) -> dict[str, Any]:
        """Meta re-categorizes template ``name`` to ``category`` and sends ``template_category_update``: done now
        (the completed notice), or with ``at`` (sandbox epoch seconds) in the future the impending notice now and
        the change at ``at``. Returns the webhook's ``value``."""
        body = {"name": name, "language": language, "category": category, "at": at}
        return self.control("POST", "templates/category", json=body)["value"]

    def now(self) -> float:
        """Sandbox time (epoch seconds), which ``advance_clock`` moves."""
        return float(self.control("POST", "clock", json={"advance": 0})["now"])

    def add_catalog(self, catalog_id: str, name: str | None = None) -> str:
        return self.control("POST", "catalogs", json={"id": catalog_id, "name": name})["id"]

    def user_preferences(
        self, wa_id: str, value: str, *, phone_number_id: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """The customer ``wa_id`` stops (``value="stop"``) or resumes (``"resume"``) marketing messages inside
        WhatsApp: a ``user_preferences`` webhook; marketing templates to them fail with 131050 while stopped."""
        body = {"wa_id": wa_id, "value": value, "phone_number_id": phone_number_id, "name": name}
        return self.control("POST", "whatsapp/user_preferences", json=body)["value"]

    def set_messaging_limit(self, tier: str, *, users: int = 0) -> dict[str, Any]:
        """Meta changes the portfolio's messaging limit (``TIER_250`` ... ``TIER_UNLIMITED``): the field reads the
        new tier and a ``business_capability_update`` webhook announces it. ``users``: a test's small limit instead
        of the tier's (enforced, and stated in the webhook's integer form)."""
        return self.control("POST", "whatsapp/messaging_limit", json={"tier": tier, "users": users})["value"]

    def conversions(self) -> list[dict[str, Any]]:
        """The Conversions API events received (each with its ``dataset_id`` and ``partner_agent``)."""
        return self.control("GET", "conversions")["events"]

    def advance_clock(self, seconds: float) -> None:
        """Move sandbox time forward (closes conversation windows without waiting)."""
        self.control("POST", "clock", json={"advance": seconds})

    def reset(self) -> None:
        """Forget catalogs' items, messages, windows, counters and templates added after start."""
        self.control("POST", "reset")
