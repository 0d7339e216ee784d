"""The status pages: overview, catalog, notifications, orders from chat, jobs (with "run now")."""

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
