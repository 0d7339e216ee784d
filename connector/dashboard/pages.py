"""The status pages: overview, catalog, notifications, checkout recovery, orders from chat, jobs (with "run now")."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from connector.dashboard import queries
from connector.dashboard.security import login_required
from connector.i18n.catalogs import N_
from connector.web.context import runtime


def register(bp: Blueprint) -> None:
    """Add the status pages to the dashboard blueprint."""

    @bp.get("/")
    @login_required
    def overview() -> Any:
        """Sync health, last errors, messages and estimated cost today, orders from chat."""
        rt = runtime()
        return render_template(
            "dashboard/overview.html",
            data=queries.overview(rt),
            currency=rt.config.dashboard.cost_currency,
        )

    @bp.get("/catalog")
    @login_required
    def catalog() -> Any:
        """Every item's sync state, and why it is not synced."""
        status = request.args.get("status") or None
        if status not in (None, "synced", "problem"):
            abort(400, description="status must be synced or problem")
        return render_template(
            "dashboard/catalog.html", rows=queries.catalog_items(runtime(), status=status), status=status
        )

    @bp.get("/notifications")
    @login_required
    def notifications() -> Any:
        """Every outbox message with its state timeline and cost; per day, our estimate next to Meta's."""
        rt = runtime()
        return render_template(
            "dashboard/notifications.html",
            rows=queries.notifications(rt),
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
        """Carts customers sent in chat."""
        return render_template("dashboard/orders.html", rows=queries.orders(runtime()))

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
