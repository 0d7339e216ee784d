"""The status pages: overview, catalog, notifications, checkout recovery, orders from chat, jobs (with "run now")."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from connector.dashboard import charts, paging, queries, stats
from connector.dashboard.security import login_required
from connector.i18n.catalogs import N_
from connector.web.context import runtime


def register(bp: Blueprint) -> None:
    """Add the status pages to the dashboard blueprint."""

    @bp.get("/")
    @login_required
    def overview() -> Any:
        """Sync health, last errors, messages and estimated cost today, orders from chat, and the charts of a chosen
        period (``?days=7|30|90``)."""
        rt = runtime()
        raw = request.args.get("days", str(stats.PERIODS[0]))
        if not raw.isdigit() or int(raw) not in stats.PERIODS:
            abort(400, description=f"days must be one of {', '.join(map(str, stats.PERIODS))}")
        return render_template(
            "dashboard/overview.html",
            data=queries.overview(rt),
            currency=rt.config.dashboard.cost_currency,
            period=int(raw),
            periods=stats.PERIODS,
            charts=stats.charts(rt, int(raw)),
            chart=charts,
        )

    @bp.get("/catalog")
    @login_required
    def catalog() -> Any:
        """Every item's sync state, and why it is not synced: searched, filtered by state and shop, paged."""
        status = request.args.get("status") or None
        if status not in (None, "synced", "problem"):
            abort(400, description="status must be synced or problem")
        rt = runtime()
        return render_template(
            "dashboard/catalog.html",
            page=queries.catalog_items(rt, status=status, asked=paging.listing()),
            status=status,
            shops=queries.visible_shops(rt),
        )

    @bp.get("/notifications")
    @login_required
    def notifications() -> Any:
        """Every outbox message with its state timeline and cost; per day, our estimate next to Meta's."""
        rt = runtime()
        kinds = queries.message_kinds(rt)
        kind = request.args.get("kind") or None
        if kind is not None and kind not in kinds:
            abort(400, description="no messages of that kind")
        return render_template(
            "dashboard/notifications.html",
            page=queries.notifications(rt, paging.listing(), kind=kind),
            kind=kind,
            kinds=kinds,
            shops=queries.visible_shops(rt),
            days=queries.cost_days(rt),
            currency=rt.config.dashboard.cost_currency,
        )

    @bp.get("/recovery")
    @login_required
    def recovery() -> Any:
        """Abandoned checkouts with their state (waiting, reminded, recovered, skipped with the reason) and the
        revenue recovered."""
        from connector.api.scope import shop_visible
        from connector.db.models_notify import RecoveryCheckout
        from connector.notify.recovery_api import STATES, checkouts, settings_json, summary

        state = request.args.get("state") or None
        if state is not None and state not in STATES:
            abort(400, description=f"state must be one of {', '.join(STATES)}")
        rt = runtime()
        visible = shop_visible(RecoveryCheckout.shop_connection_id)
        with rt.db.session() as session:
            rows = checkouts(session, visible=visible, state=state, limit=500)
            totals = summary(session, visible=visible)
        return render_template(
            "dashboard/recovery.html",
            rows=rows,
            totals=totals,
            rules=settings_json(rt.config.notify),
            state=state,
            states=STATES,
        )

    @bp.get("/orders")
    @login_required
    def orders() -> Any:
        """Carts customers sent in chat: searched by customer, filtered by shop, paged."""
        rt = runtime()
        return render_template(
            "dashboard/orders.html", page=queries.orders(rt, paging.listing()), shops=queries.visible_shops(rt)
        )

    @bp.get("/jobs")
    @login_required
    def jobs() -> Any:
        """Scheduled jobs: schedule, next run, last runs, and a button to run one now."""
        return render_template("dashboard/jobs.html", rows=queries.jobs(runtime()))

    @bp.post("/jobs/run")
    @login_required
    def run_job() -> Any:
        """Enqueue a job's task now (the worker runs it like a scheduled tick)."""
        rt = runtime()
        rt.refresh_jobs()
        job = rt.jobs.jobs.get(request.form.get("job_id", ""))
        if job is None:
            abort(404, description="no such job")
        args = dict(job.args)
        if job.task == "catalog.sync":
            args["trigger"] = "manual"
        rt.queue.enqueue(job.task, args)
        flash(N_("Queued."), "ok")
        return redirect(url_for("dashboard.jobs"))
