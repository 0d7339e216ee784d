"""Hook implementations of campaigns and attribution, registered as an essential core plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector import hookimpl, model
from connector.campaigns import attribution, campaigns, conversions

if TYPE_CHECKING:
    import flask

    from connector.runtime import Runtime
    from connector.work.registry import TaskContext
    from connector.work.scheduler import JobRegistry


@hookimpl
def connector_register_jobs(jobs: JobRegistry, runtime: Runtime) -> None:
    """The campaign fan-out task and the Conversions API send task."""

    @jobs.task(campaigns.FANOUT_TASK)
    def fanout(ctx: TaskContext, campaign_id: int, run: int) -> None:
        campaigns.run_fanout(ctx.runtime, campaign_id, run, heartbeat=ctx.extend_lease)

    @jobs.task(conversions.SEND_TASK)
    def conversion_event(ctx: TaskContext, event_id: int, contact_id: int) -> None:
        conversions.send(ctx.runtime, event_id, contact_id, attempt=ctx.task.attempts)


@hookimpl
def connector_order_status_changed(
    shop_connection_id: int, order: model.Order, event: model.ShopEvent, runtime: Runtime
) -> None:
    """A paid order is recorded once and credited to the last chat touch (and reported to the Conversions API)."""
    attribution.record_paid(runtime, shop_connection_id, order)


@hookimpl
def connector_register_blueprints(app: flask.Flask) -> list[flask.Blueprint]:
    """``/api/v1/segments``, ``/api/v1/campaigns`` and ``/api/v1/earned``."""
    from connector.campaigns.api import admin_blueprint

    return [admin_blueprint()]
