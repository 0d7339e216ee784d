"""Hook implementations of the notify subsystem, registered as an essential core plugin.

Event hooks receive the ``runtime`` that fired them. Order events are turned into outbox rows right there (database writes only,
no network I/O); stock changes enqueue a back-in-stock wave task.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connector import hookimpl, model
from connector.notify import back_in_stock, double_opt_in, keywords, portfolio, recovery, shipping

if TYPE_CHECKING:
    import flask

    from connector.runtime import Runtime
    from connector.work.registry import TaskContext
    from connector.work.scheduler import JobRegistry

log = logging.getLogger(__name__)


@hookimpl
def connector_register_jobs(jobs: JobRegistry, runtime: Runtime) -> None:
    """The back-in-stock wave task, the checkout reminder task, the reconcile poll of orders in flight, the expiry of unconfirmed web
    opt-ins and the read of each WhatsApp portfolio's messaging limit."""
    minutes = runtime.config.notify.reconcile_interval_minutes

    @jobs.task(back_in_stock.WAVE_TASK)
    def wave(ctx: TaskContext, shop_connection_id: int, variant_external_id: str, started: str) -> None:
        back_in_stock.run_wave(
            ctx.runtime, shop_connection_id, variant_external_id, started, heartbeat=ctx.extend_lease
        )

    @jobs.task(recovery.REMIND_TASK)
    def recovery_remind(ctx: TaskContext, checkout_id: int) -> None:
        recovery.remind(ctx.runtime, checkout_id)

    @jobs.task(recovery.DUE_TASK)
    def recovery_due(ctx: TaskContext) -> None:
        recovery.enqueue_due(ctx.runtime)

    jobs.interval(recovery.DUE_TASK, task=recovery.DUE_TASK, minutes=1)

    @jobs.task(recovery.POLL_TASK)
    def recovery_poll(ctx: TaskContext) -> None:
        recovery.poll(ctx.runtime)

    jobs.interval(recovery.POLL_TASK, task=recovery.POLL_TASK, minutes=runtime.config.notify.recovery_poll_minutes)

    @jobs.task("notify.reconcile_orders")
    def reconcile_orders(ctx: TaskContext) -> None:
        shipping.reconcile(ctx.runtime)

    jobs.interval("notify.reconcile_orders", task="notify.reconcile_orders", minutes=minutes)

    @jobs.task("notify.expire_consent_requests")
    def expire_consent_requests(ctx: TaskContext) -> None:
        with ctx.runtime.db.session() as session:
            double_opt_in.expire(session, datetime.now(UTC))

    jobs.interval("notify.expire_consent_requests", task="notify.expire_consent_requests", minutes=15)

    @jobs.task("notify.refresh_messaging_limits")
    def refresh_messaging_limits(ctx: TaskContext) -> None:
        portfolio.refresh_limits(ctx.runtime)

    jobs.interval(
        "notify.refresh_messaging_limits",
        task="notify.refresh_messaging_limits",
        minutes=runtime.config.notify.messaging_limit_refresh_minutes,
    )


@hookimpl
def connector_order_status_changed(
    shop_connection_id: int, order: model.Order, event: model.ShopEvent, runtime: Runtime
) -> None:
    """Queue the shipping notification the order's new state calls for (once per order and status); track an
    unpaid order for checkout recovery, or settle it once paid."""
    shipping.on_order(runtime, shop_connection_id, order)
    recovery.on_order(runtime, shop_connection_id, order)


@hookimpl
def connector_order_deleted(shop_connection_id: int, order_external_id: str, runtime: Runtime) -> None:
    """Stop following a deleted order and skip its notifications not sent yet."""
    shipping.on_order_deleted(runtime, shop_connection_id, order_external_id)


@hookimpl
def connector_stock_changed(
    shop_connection_id: int,
    variant_external_id: str,
    old_quantity: int | None,
    new_quantity: int | None,
    runtime: Runtime,
) -> None:
    """A variant back in stock starts a wave of back-in-stock notifications."""
    back_in_stock.on_stock_changed(runtime, shop_connection_id, variant_external_id, old_quantity, new_quantity)


@hookimpl
def connector_inbound_message(channel_connection_id: int, message: model.Inbound, runtime: Runtime) -> None:
    """STOP/STOPP/ABMELDEN/START and "Stop alerts" change consent at once and are confirmed to the customer; a
    confirmation code (or the "Yes" button) confirms a double opt-in asked for on the web."""
    if not keywords.handle(runtime, channel_connection_id, message):
        double_opt_in.handle(runtime, channel_connection_id, message)


@hookimpl
def connector_register_blueprints(app: flask.Flask) -> list[flask.Blueprint]:
    """The admin routes under /api/v1/notifications and /api/v1/recovery, and the public back-in-stock endpoint."""
    from connector.notify import recovery_api
    from connector.notify.api import admin_blueprint, public_blueprint

    return [admin_blueprint(), public_blueprint(), recovery_api.blueprint()]
