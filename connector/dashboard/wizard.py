"""The five-step setup wizard: shop, channel, webhooks, first sync, test message.

Each step tests live against the platform (or the sandboxes in demo mode) and says what to fix when
something fails. Progress is read from the database, so the wizard resumes wherever the owner left off.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from connector.api import scope
from connector.dashboard import queries, webhook_setup, wizard_approval
from connector.dashboard.sandboxes import DemoSandboxes, graph_control, settings_for, shop_control
from connector.dashboard.security import login_required
from connector.db.models import CatalogItem, ChannelConnection, OutboundMessage, ShopVariant, SyncRun
from connector.errors import ConfigError, ConnectionTestError, SettingsError
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime

GRAPH_SANDBOX = "graph"


def demo_sandboxes(app: Flask) -> DemoSandboxes:
    """The app's demo sandboxes (created on first use; stopped when the process ends)."""
    holder = app.extensions.get("dashboard_sandboxes")
    if holder is None:
        holder = app.extensions["dashboard_sandboxes"] = DemoSandboxes(app.extensions["connector"])
    return holder


def current_shop(rt: Runtime) -> Any:
    """The shop the wizard works on: the one it created in this session, else the newest (of the user's
    workspace)."""
    shops = rt.connections.shops(workspace_id=scope.current().workspace_id)
    wanted = session.get("wizard_shop")
    for shop in shops:
        if shop.id == wanted:
            return shop
    return shops[-1] if shops else None


def current_channel(rt: Runtime, shop: Any) -> Any:
    if shop is None:
        return None
    channels = rt.connections.channels(shop.id)
    wanted = session.get("wizard_channel")
    for channel in channels:
        if channel.id == wanted:
            return channel
    return channels[-1] if channels else None


def _form_fields(cls: Any) -> list[Any]:
    return list(cls.config_fields) if cls is not None else []


def _create_and_test(rt: Runtime, kind: str, create: Any) -> tuple[Any, dict[str, str], str | None]:
    """Create a connection and test it live; on failure remove it again. Returns (row, field errors, error)."""
    try:
        row = create()
    except SettingsError as exc:
        return None, exc.errors, None
    try:
        info = rt.connections.test(kind, row.id)  # type: ignore[arg-type]
    except ConnectionTestError as exc:
        rt.connections.delete(kind, row.id)  # type: ignore[arg-type]
        return None, {}, str(exc)
    return (row, info), {}, None


def sync_progress(rt: Runtime, shop_id: int, channel_id: int | None) -> dict[str, Any]:
    """The newest full sync of a shop with live counts: variants read so far and catalog items pushed. Only full
    runs: a shop webhook's targeted sync (the wizard's own test webhook starts one) must not take over the bar."""
    with rt.db.session() as s:
        run = s.scalars(
            select(SyncRun)
            .where(SyncRun.shop_connection_id == shop_id, SyncRun.mode == "full")
            .order_by(SyncRun.id.desc())
            .limit(1)
        ).first()
        listed = s.scalar(
            select(func.count())
            .select_from(ShopVariant)
            .where(ShopVariant.shop_connection_id == shop_id, ShopVariant.listed)
        )
        pushed = 0
        if channel_id is not None:
            pushed = (
                s.scalar(
                    select(func.count())
                    .select_from(CatalogItem)
                    .where(CatalogItem.channel_connection_id == channel_id, CatalogItem.source_hash.is_not(None))
                )
                or 0
            )
    percent = 100 if run is not None and run.status != "running" else int(100 * pushed / listed) if listed else 0
    return {"run": run, "listed": listed or 0, "pushed": pushed, "percent": min(percent, 100)}


def register(bp: Blueprint) -> None:
    """Add the wizard's steps to the dashboard blueprint."""

    def render_step(step: int, **context: Any) -> Any:
        rt = runtime()
        shop = current_shop(rt)
        channel = current_channel(rt, shop)
        status = context.pop("status", 200)
        return (
            render_template(
                f"dashboard/wizard_{step}.html",
                step=step,
                shop=shop,
                channel=channel,
                shop_adapters=rt.plugins.shop_adapters,
                channel_adapters=rt.plugins.channel_adapters,
                approval=wizard_approval.context(rt, current_app) if step == 1 else {},
                **context,
            ),
            status,
        )

    @bp.get("/setup")
    @login_required
    def wizard() -> Any:
        """Go to the first step that is not done yet."""
        rt = runtime()
        shop = current_shop(rt)
        if shop is None:
            return redirect(url_for("dashboard.wizard_shop"))
        channel = current_channel(rt, shop)
        if channel is None:
            return redirect(url_for("dashboard.wizard_channel"))
        progress = sync_progress(rt, shop.id, channel.id)
        if progress["run"] is None:
            return redirect(url_for("dashboard.wizard_webhooks"))
        return redirect(url_for("dashboard.wizard_message"))

    # ------------------------------------------------------------------ 1. shop

    @bp.route("/setup/shop", methods=["GET", "POST"])
    @login_required
    def wizard_shop() -> Any:
        """Step 1: choose the shop platform, enter the credentials, test them live."""
        rt = runtime()
        platform = request.values.get("platform") or next(iter(sorted(rt.plugins.shop_adapters)), "")
        cls = rt.plugins.shop_adapters.get(platform)
        values = {k: v for k, v in request.form.items() if k not in ("csrf_token", "platform", "name")}
        if request.method == "GET" or request.form.get("action") == "choose":
            return render_step(1, platform=platform, fields=_form_fields(cls), values={}, errors={}, error=None)
        if cls is None:
            abort(400, description=f"unknown shop platform {platform!r}")
        values.pop("action", None)
        created, errors, error = _create_and_test(
            rt,
            "shop",
            lambda: rt.connections.create_shop(name=request.form.get("name", ""), platform=platform, settings=values),
        )
        if created is None:
            return render_step(
                1, platform=platform, fields=_form_fields(cls), values=values, errors=errors, error=error, status=400
            )
        row, info = created
        session["wizard_shop"] = row.id
        session["wizard_done"] = f"Connected to {info.name}."
        return redirect(url_for("dashboard.wizard_channel"))

    @bp.post("/setup/shop/sandbox")
    @login_required
    def wizard_shop_sandbox() -> Any:
        """Demo mode: start the chosen platform's sandbox and fill the form with its credentials."""
        rt = runtime()
        platform = request.form.get("platform", "")
        cls = rt.plugins.shop_adapters.get(platform)
        if cls is None:
            abort(400, description=f"unknown shop platform {platform!r}")
        try:
            sandbox = demo_sandboxes(current_app).get(platform)
        except ConfigError as exc:
            abort(400, description=str(exc))
        values = settings_for(cls, sandbox.connection_settings())
        return render_step(1, platform=platform, fields=_form_fields(cls), values=values, errors={}, error=None)

    # ------------------------------------------------------------------ 2. channel

    @bp.route("/setup/channel", methods=["GET", "POST"])
    @login_required
    def wizard_channel() -> Any:
        """Step 2: choose a channel, enter the credentials, test them live."""
        rt = runtime()
        shop = current_shop(rt)
        if shop is None:
            return redirect(url_for("dashboard.wizard_shop"))
        channel_name = request.values.get("channel") or (
            "whatsapp" if "whatsapp" in rt.plugins.channel_adapters else ""
        )
        cls = rt.plugins.channel_adapters.get(channel_name)
        values = {k: v for k, v in request.form.items() if k not in ("csrf_token", "channel", "name", "action")}
        if request.method == "GET" or request.form.get("action") == "choose":
            return render_step(2, channel_name=channel_name, fields=_form_fields(cls), values={}, errors={}, error=None)
        if cls is None:
            abort(400, description=f"unknown channel {channel_name!r}")
        created, errors, error = _create_and_test(
            rt,
            "channel",
            lambda: rt.connections.create_channel(
                shop_connection_id=shop.id, name=request.form.get("name", ""), channel=channel_name, settings=values
            ),
        )
        if created is None:
            return render_step(
                2,
                channel_name=channel_name,
                fields=_form_fields(cls),
                values=values,
                errors=errors,
                error=error,
                status=400,
            )
        row, info = created
        session["wizard_channel"] = row.id
        session["wizard_done"] = f"Connected to {info.name}."
        session["wizard_webhooks_since"] = datetime.now(UTC).isoformat()
        return redirect(url_for("dashboard.wizard_webhooks"))

    @bp.post("/setup/channel/sandbox")
    @login_required
    def wizard_channel_sandbox() -> Any:
        """Demo mode: start the Graph sandbox and fill the channel form with its credentials."""
        rt = runtime()
        channel_name = request.form.get("channel", "")
        cls = rt.plugins.channel_adapters.get(channel_name)
        if cls is None:
            abort(400, description=f"unknown channel {channel_name!r}")
        try:
            sandbox = demo_sandboxes(current_app).get(GRAPH_SANDBOX)
        except ConfigError as exc:
            abort(400, description=str(exc))
        values = settings_for(cls, sandbox.connection_settings())
        return render_step(2, channel_name=channel_name, fields=_form_fields(cls), values=values, errors={}, error=None)

    # ------------------------------------------------------------------ 3. webhooks

    def _is_meta(rt: Runtime, channel_name: str) -> bool:
        cls = rt.plugins.channel_adapters.get(channel_name)
        return bool(cls is not None and cls.webhook_object)

    def _webhook_targets(rt: Runtime) -> tuple[Any, Any, dict[str, Any]]:
        shop = current_shop(rt)
        channel = current_channel(rt, shop)
        if shop is None or channel is None:
            abort(409, description="connect a shop and a channel first (steps 1 and 2)")
        info = {
            "shop_url": rt.connections.webhook_url(shop.platform, shop.id),
            "channel_url": rt.connections.webhook_url(channel.channel, channel.id),
            # Meta channels: one app delivers every number's webhooks to one URL, routed by phone number / page id.
            "app_url": rt.connections.meta_app_webhook_url() if _is_meta(rt, channel.channel) else "",
            "verify_token": rt.connections.settings_of(channel).get("verify_token", ""),
        }
        return shop, channel, info

    @bp.get("/setup/webhooks")
    @login_required
    def wizard_webhooks() -> Any:
        """Step 3: the webhook URLs and verify token to paste, and a live "received a test webhook" check."""
        rt = runtime()
        if current_channel(rt, current_shop(rt)) is None:
            return redirect(url_for("dashboard.wizard"))
        session.setdefault("wizard_webhooks_since", datetime.now(UTC).isoformat())
        _shop, _channel, info = _webhook_targets(rt)
        return render_step(3, hooks=info, message=session.pop("wizard_message", None))

    @bp.post("/setup/webhooks/register")
    @login_required
    def wizard_webhooks_register() -> Any:
        """Register the shop's webhooks through its API, and (sandbox only) subscribe the Graph sandbox."""
        rt = runtime()
        shop, channel, _info = _webhook_targets(rt)
        problems = []
        try:
            webhook_setup.register(rt, "shop", shop.id)
        except webhook_setup.WebhookSetupError as exc:
            problems.append(str(exc))
        if graph_control(rt, channel.id) is not None and channel.channel in webhook_setup.META_CHANNELS:
            try:
                webhook_setup.register(rt, "channel", channel.id)
            except webhook_setup.WebhookSetupError as exc:
                problems.append(str(exc))
        session["wizard_message"] = "; ".join(problems) if problems else "registered"
        return redirect(url_for("dashboard.wizard_webhooks"))

    @bp.post("/setup/webhooks/test")
    @login_required
    def wizard_webhooks_test() -> Any:
        """Demo mode: make the sandboxes send a webhook (a stock change in the shop, a customer's "Hi")."""
        rt = runtime()
        shop, channel, _info = _webhook_targets(rt)
        if shop_control(rt, shop.id) is None and graph_control(rt, channel.id) is None:
            abort(400, description="test webhooks can only be sent by sandboxes; trigger one in your platform instead")
        problems = []
        for kind, cid in (("shop", shop.id), ("channel", channel.id)):
            try:
                webhook_setup.send_test(rt, kind, cid)  # type: ignore[arg-type]
            except webhook_setup.WebhookSetupError as exc:
                if "only sandboxes" not in str(exc):
                    problems.append(str(exc))
        session["wizard_message"] = "; ".join(problems) if problems else "sent"
        return redirect(url_for("dashboard.wizard_webhooks"))

    @bp.get("/setup/webhooks/status")
    @login_required
    def wizard_webhooks_status() -> Any:
        """The live part of step 3 (polled by htmx): webhooks received per connection since the step began."""
        rt = runtime()
        shop, channel, _info = _webhook_targets(rt)
        since = datetime.fromisoformat(session.get("wizard_webhooks_since") or datetime.now(UTC).isoformat())
        counts = {
            "shop": queries.webhook_count(rt, "shop", shop.id, since),
            "channel": queries.webhook_count(rt, "channel", channel.id, since),
        }
        return render_template("dashboard/_webhook_status.html", counts=counts)

    # ------------------------------------------------------------------ 4. first sync

    @bp.get("/setup/sync")
    @login_required
    def wizard_sync() -> Any:
        """Step 4: run the first full sync with a live progress bar."""
        rt = runtime()
        shop = current_shop(rt)
        if shop is None:
            return redirect(url_for("dashboard.wizard"))
        channel = current_channel(rt, shop)
        return render_step(4, progress=sync_progress(rt, shop.id, channel.id if channel else None))

    @bp.post("/setup/sync")
    @login_required
    def wizard_sync_start() -> Any:
        """Enqueue a full sync of the wizard's shop (the worker runs it)."""
        rt = runtime()
        shop = current_shop(rt)
        if shop is None:
            abort(409, description="connect a shop first (step 1)")
        rt.queue.enqueue(
            "catalog.sync",
            {"shop_connection_id": shop.id, "mode": "full", "trigger": "manual"},
            idempotency_key=f"wizard-first-sync:{shop.id}:{session.get('wizard_sync_nonce', 0)}",
        )
        session["wizard_sync_nonce"] = int(session.get("wizard_sync_nonce", 0)) + 1
        session["wizard_sync_started"] = True
        return redirect(url_for("dashboard.wizard_sync"))

    @bp.get("/setup/sync/progress")
    @login_required
    def wizard_sync_progress() -> Any:
        """The progress bar (polled by htmx while the sync runs)."""
        rt = runtime()
        shop = current_shop(rt)
        if shop is None:
            abort(409, description="connect a shop first (step 1)")
        channel = current_channel(rt, shop)
        return render_template(
            "dashboard/_sync_progress.html", progress=sync_progress(rt, shop.id, channel.id if channel else None)
        )

    # ------------------------------------------------------------------ 5. test message

    @bp.route("/setup/message", methods=["GET", "POST"])
    @login_required
    def wizard_message() -> Any:
        """Step 5: send a test message to your own phone (a template, since the 24-hour window is closed)."""
        from connector.chat.messages import send_test_message

        rt = runtime()
        shop = current_shop(rt)
        channel = current_channel(rt, shop)
        if channel is None:
            return redirect(url_for("dashboard.wizard"))
        error = None
        if request.method == "POST":
            phone = request.form.get("phone", "")
            template = request.form.get("template", "").strip() or None
            try:
                message_id = send_test_message(rt, channel.id, phone, template=template, text=None)
            except ValueError as exc:
                error = f"{exc}. Enter your number with country code, e.g. +49 151 12345678."
            else:
                session["wizard_message_id"] = message_id
                session["wizard_phone"] = phone
                return redirect(url_for("dashboard.wizard_message"))
        return render_step(
            5,
            error=error,
            message_id=session.get("wizard_message_id"),
            phone=session.get("wizard_phone", ""),
            status=400 if error else 200,
        )

    @bp.get("/setup/message/status")
    @login_required
    def wizard_message_status() -> Any:
        """The test message's outbox state (polled by htmx until delivered or failed)."""
        message_id = session.get("wizard_message_id")
        if message_id is None:
            abort(404, description="no test message sent yet")
        with runtime().db.session() as s:
            row = s.get(OutboundMessage, message_id)
            channel = s.get(ChannelConnection, row.channel_connection_id) if row else None
        if row is None:
            abort(404, description="the test message is gone")
        return render_template("dashboard/_message_status.html", row=row, channel=channel)
