"""Dashboard routes of the Meta onboarding, under ``<dashboard>/setup/meta``.

* ``GET  /whatsapp`` (``?coexistence=1``), ``GET /pages``: a new ``state``, then Meta's window (a popup opened by
  ``meta_signup.js``, or the whole tab without JavaScript);
* ``POST /event``: the window's ``WA_EMBEDDED_SIGNUP`` message event, relayed by the opener;
* ``GET  /callback``: Meta's redirect with ``code`` and ``state`` (or ``error``): the state is used up, the code
  exchanged at once, the connection stored and tested; then the wizard goes on with step 3;
* ``GET  /prerequisites``, ``POST /check/<key>``: the one-time checklist and its checks; ``GET /https``: why public
  HTTPS, and the ways to get it.

In demo mode with no ``[plugins.meta]`` app configured, the Graph sandbox plays Meta (window and API).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connector_meta.onboarding import pages, prerequisites, states, whatsapp
from connector_meta.onboarding.app import MetaApp, settings_from_sandbox
from flask import Blueprint, Flask, abort, current_app, jsonify, redirect, render_template, request, session, url_for

from connector.dashboard.security import login_required
from connector.dashboard.web import prepare_request, template_context
from connector.dashboard.wizard import GRAPH_SANDBOX, current_shop, demo_sandboxes
from connector.errors import ConfigError, ConnectorError
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime

log = logging.getLogger(__name__)
#: ``extras`` of the v4 Embedded Signup launch (§4.4); coexistence adds ``featureType`` (§4.7).
SETUP_EXTRAS: dict[str, Any] = {"setup": {}}
COEXISTENCE_EXTRAS: dict[str, Any] = {"setup": {}, "featureType": "whatsapp_business_app_onboarding"}


def meta_app(rt: Runtime, sandbox: bool) -> MetaApp:
    """The configured Meta app, or (``sandbox``) the Graph sandbox's, started on demand in demo mode."""
    if sandbox:
        try:
            graph = demo_sandboxes(current_app).get(GRAPH_SANDBOX)
        except ConfigError as exc:
            abort(400, description=str(exc))
        return MetaApp.from_settings(settings_from_sandbox(graph.connection_settings()))
    return MetaApp.from_settings(rt.plugin_config("meta"))


def use_sandbox(rt: Runtime) -> bool:
    """Demo mode without a configured app: the sandbox plays Meta."""
    return rt.config.server.demo and not MetaApp.from_settings(rt.plugin_config("meta")).usable


def callback_url(rt: Runtime) -> str:
    """Where Meta's window sends the owner back: our public address (a Valid OAuth Redirect URI of the app)."""
    return f"{rt.config.public_url}{url_for('meta_onboarding.callback')}"


def static_blueprint(app: Flask) -> Blueprint:
    """``meta_signup.js`` under the dashboard's static path (``<dashboard>/static/meta/``), where pages load scripts
    from."""
    prefix = app.extensions["connector"].config.dashboard.url_prefix
    return Blueprint(
        "meta_onboarding_static",
        __name__,
        url_prefix=f"{prefix}/static/meta",
        static_folder="static",
        static_url_path="",
    )


def create_blueprint(app: Flask) -> Blueprint:
    """The onboarding pages, mounted under the dashboard's prefix, with the dashboard's request checks."""
    prefix = app.extensions["connector"].config.dashboard.url_prefix
    bp = Blueprint(
        "meta_onboarding",
        __name__,
        url_prefix=f"{prefix}/setup/meta",
        template_folder="templates",
    )
    bp.before_request(prepare_request)
    bp.context_processor(template_context)

    @bp.app_template_global()
    def meta_origin() -> str:
        """The origin whose message events the wizard trusts: Meta's (or, in demo mode, the Graph sandbox's)."""
        rt = runtime()
        return meta_app(rt, use_sandbox(rt)).message_origin

    @bp.app_template_global()
    def prerequisite_items() -> list[prerequisites.Prerequisite]:
        """The checklist for the wizard's first page (checked on demand)."""
        return prerequisites.unchecked()

    def start(kind: str, coexistence: bool) -> Any:
        rt = runtime()
        shop = current_shop(rt)
        if shop is None:
            return redirect(url_for("dashboard.wizard_shop"))
        sandbox = use_sandbox(rt)
        app_ = meta_app(rt, sandbox)
        config_id = app_.signup_config_id if kind == "whatsapp" else app_.login_config_id
        if not app_.usable or not config_id:
            return render_template("meta_onboarding/prerequisites.html", items=prerequisites.unchecked(), missing=True)
        state = states.create(
            rt,
            kind=kind,
            user_id=int(session["user_id"]),
            shop_connection_id=shop.id,
            coexistence=coexistence,
            sandbox=sandbox,
        )
        extras = (COEXISTENCE_EXTRAS if coexistence else SETUP_EXTRAS) if kind == "whatsapp" else {}
        return redirect(app_.dialog(config_id=config_id, redirect_uri=callback_url(rt), state=state, extras=extras))

    @bp.get("/whatsapp")
    @login_required
    def start_whatsapp() -> Any:
        """'Connect WhatsApp': Embedded Signup; ``coexistence=1`` keeps the WhatsApp Business app working."""
        return start("whatsapp", request.args.get("coexistence") == "1")

    @bp.get("/pages")
    @login_required
    def start_pages() -> Any:
        """'Connect Facebook and Instagram': Facebook Login for Business for Pages and Instagram accounts."""
        return start("pages", False)

    @bp.post("/event")
    @login_required
    def event() -> Any:
        """The window's message event, relayed by the opener; kept with its state for the callback."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("event"), dict) or len(request.get_data()) > 10_000:
            abort(400, description="send {event} as a JSON object of at most 10 kB")
        kept = states.remember_event(runtime(), int(session["user_id"]), body["event"])
        return jsonify({"kept": kept}), 200 if kept else 409

    @bp.get("/callback")
    @login_required
    def callback() -> Any:
        """Meta's redirect: use up the state, exchange the code within its 30 seconds, store and test the connection."""
        rt = runtime()
        states.wait_for_event(rt, request.args.get("state", ""))
        try:
            pending = states.consume(rt, request.args.get("state", ""), int(session["user_id"]))
        except states.StateRefused as exc:
            return render_template("meta_onboarding/result.html", error=str(exc), retry=True), 400
        if request.args.get("error"):
            reason = request.args.get("error_description") or request.args.get("error")
            data = pending.session_info.get("data")
            step = data.get("current_step") if isinstance(data, dict) else None
            where = f" at {str(step).replace('_', ' ').lower()}" if step else ""
            message = f"You stopped in Meta's window{where} ({reason}). Nothing was connected."
            return render_template("meta_onboarding/result.html", error=message, retry=True), 400
        app_ = meta_app(rt, pending.sandbox)
        code = request.args.get("code", "")
        try:
            if pending.kind == "whatsapp":
                rows = [
                    whatsapp.connect(
                        rt,
                        app_,
                        code=code,
                        redirect_uri=callback_url(rt),
                        shop_connection_id=pending.shop_connection_id,
                        coexistence=pending.coexistence,
                        session_info=pending.session_info,
                    )
                ]
            else:
                rows = pages.connect(
                    rt, app_, code=code, redirect_uri=callback_url(rt), shop_connection_id=pending.shop_connection_id
                )
        except (whatsapp.OnboardingError, ConnectorError) as exc:
            log.warning("meta onboarding failed: %s", exc)
            return render_template("meta_onboarding/result.html", error=str(exc), retry=True), 502
        session["wizard_shop"] = pending.shop_connection_id
        session["wizard_channel"] = rows[0].id
        session["meta_connected_channel"] = rows[0].id
        session["wizard_done"] = "Connected to " + ", ".join(row.name for row in rows) + "."
        session["wizard_webhooks_since"] = datetime.now(UTC).isoformat()
        return render_template(
            "meta_onboarding/result.html",
            error=None,
            rows=rows,
            coexistence=pending.coexistence,
            next_url=url_for("dashboard.wizard_webhooks"),
        )

    @bp.get("/prerequisites")
    @login_required
    def checklist() -> Any:
        """The one-time prerequisites with a check button each."""
        return render_template("meta_onboarding/prerequisites.html", items=prerequisites.unchecked(), missing=False)

    @bp.post("/check/<key>")
    @login_required
    def check(key: str) -> Any:
        """Run one check: the row for htmx, else the whole checklist with that row filled in."""
        rt = runtime()
        if key not in prerequisites.ITEMS:
            abort(404)
        result = prerequisites.run(rt, meta_app(rt, use_sandbox(rt)), key)
        if request.headers.get("HX-Request"):
            return render_template("meta_onboarding/_check.html", item=result)
        items = [result if item.key == key else item for item in prerequisites.unchecked()]
        return render_template("meta_onboarding/prerequisites.html", items=items, missing=False)

    @bp.get("/https")
    @login_required
    def https_help() -> Any:
        """Why the platforms need a public HTTPS address and the two ways to give this server one."""
        rt = runtime()
        found = prerequisites.check_https(rt)
        return render_template("meta_onboarding/https.html", found=found, public_url=rt.config.public_url)

    return bp
