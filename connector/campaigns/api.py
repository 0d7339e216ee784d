"""Admin API of campaigns and attribution, under ``/api/v1`` (bearer token, owners only; see :mod:`connector.roles`).

* ``/api/v1/segments`` (GET list, POST create), ``/api/v1/segments/<id>`` (GET),
  ``/api/v1/segments/<id>/preview`` (GET: matching, excluded by reason, cost by country, deferred shares),
  ``/api/v1/segments/preview`` (POST ``{"filters"}``: the same for a filter not saved yet);
* ``/api/v1/campaigns`` (GET list, POST create), ``/api/v1/campaigns/<id>`` (GET with live progress),
  ``/api/v1/campaigns/<id>/preview`` (GET), ``/api/v1/campaigns/<id>/start|pause|resume|cancel`` (POST);
* ``/api/v1/earned?since=YYYY-MM-DD&until=YYYY-MM-DD``: revenue and orders by source per day and per campaign, with
  the cost of the messages and the return on spend.

Everything is the token's workspace's: segments and campaigns of another workspace are a 404, a segment counts only
the contacts of the shops the token sees (one shop for a shop token).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import and_, select

from connector.api.scope import channel_visible, current, is_visible, shop_visible
from connector.campaigns import attribution, campaigns, preview, segments
from connector.campaigns.texts import _
from connector.db.models import Contact, ShopConnection
from connector.db.models_sales import Campaign, Segment
from connector.notify import product_cards
from connector.web.context import runtime


def _error(status: int, message: str) -> Response:
    response = jsonify({"code": status, "status": "error", "message": message})
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(_error(400, _("send a JSON object")))
    return data


def _text(data: dict[str, Any], field: str, *, required: bool = True, limit: int = 200) -> str:
    value = data.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        abort(_error(400, _("{field} must be a text of at most {limit} characters", field=field, limit=limit)))
    return value


def _number(data: dict[str, Any], field: str, default: float = 0.0) -> float:
    value = data.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        abort(_error(400, _("{field} must be a number of at least 0", field=field)))
    return float(value)


def _when(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        abort(_error(400, _("{field} must be an ISO 8601 time", field=field)))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filters(raw: Any) -> segments.Filters:
    try:
        return segments.parse(raw)
    except segments.SegmentError as error:
        abort(_error(400, str(error)))


def segment_json(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "filters": segment.filters,
        "created_at": segment.created_at.isoformat() if segment.created_at else None,
    }


def _segment(session: Any, segment_id: int) -> Segment:
    segment = session.scalar(
        select(Segment).where(Segment.id == segment_id, Segment.workspace_id == current().workspace_id)
    )
    if segment is None:
        abort(_error(404, _("no segment {id}", id=segment_id)))
    return segment


def _campaign(session: Any, campaign_id: int) -> Campaign:
    campaign = session.scalar(
        select(Campaign).where(
            Campaign.id == campaign_id,
            Campaign.workspace_id == current().workspace_id,
            channel_visible(Campaign.channel_connection_id),
        )
    )
    if campaign is None:
        abort(_error(404, _("no campaign {id}", id=campaign_id)))
    return campaign


def segment_preview(
    session: Any, filters: segments.Filters, *, channel_id: int | None = None, cap: float = 0.0
) -> dict[str, Any]:
    """The preview of ``filters`` over the visible contacts (of one channel connection when given)."""
    scope = channel_visible(Contact.channel_connection_id)
    if channel_id is not None:
        scope = and_(scope, Contact.channel_connection_id == channel_id)
    contacts = segments.clauses(session, filters, scope)
    return preview.preview(session, runtime().config.notify, contacts, datetime.now(UTC), budget_cap=cap)


def admin_blueprint() -> Blueprint:
    """The routes listed in the module's docstring."""
    from connector.api.auth import require_bearer

    bp = Blueprint("campaigns_api", __name__, url_prefix="/api/v1")

    @bp.before_request
    def _auth() -> tuple[Response, int, dict[str, str]] | None:
        return require_bearer(runtime())

    @bp.get("/segments")
    def list_segments() -> Response:
        with runtime().db.session() as session:
            rows = session.scalars(
                select(Segment).where(Segment.workspace_id == current().workspace_id).order_by(Segment.id)
            ).all()
            return jsonify({"items": [segment_json(s) for s in rows]})

    @bp.post("/segments")
    def create_segment() -> tuple[Response, int]:
        data = _body()
        name = _text(data, "name")
        filters = _filters(data.get("filters", {}))
        with runtime().db.session() as session:
            segment = Segment(
                workspace_id=current().workspace_id,
                name=name.strip(),
                filters=filters.model_dump(mode="json", exclude_defaults=True),
            )
            session.add(segment)
            session.flush()
            return jsonify(segment_json(segment)), 201

    @bp.get("/segments/<int:segment_id>")
    def get_segment(segment_id: int) -> Response:
        with runtime().db.session() as session:
            return jsonify(segment_json(_segment(session, segment_id)))

    @bp.get("/segments/<int:segment_id>/preview")
    def preview_segment(segment_id: int) -> Response:
        channel = request.args.get("channel_connection_id")
        with runtime().db.session() as session:
            segment = _segment(session, segment_id)
            channel_id = int(channel) if channel and channel.isdigit() else None
            return jsonify(segment_preview(session, _filters(segment.filters), channel_id=channel_id))

    @bp.post("/segments/preview")
    def preview_filters() -> Response:
        data = _body()
        filters = _filters(data.get("filters", {}))
        with runtime().db.session() as session:
            return jsonify(segment_preview(session, filters, cap=_number(data, "budget_cap")))

    @bp.get("/campaigns")
    def list_campaigns() -> Response:
        with runtime().db.session() as session:
            rows = session.scalars(
                select(Campaign)
                .where(Campaign.workspace_id == current().workspace_id, channel_visible(Campaign.channel_connection_id))
                .order_by(Campaign.id.desc())
            ).all()
            return jsonify({"items": [campaigns.as_json(c) for c in rows]})

    @bp.post("/campaigns")
    def create_campaign() -> tuple[Response, int]:
        data = _body()
        channel_id = data.get("channel_connection_id")
        segment_id = data.get("segment_id")
        if not isinstance(channel_id, int) or not isinstance(segment_id, int):
            abort(_error(400, _("segment_id and channel_connection_id must be integers")))
        with runtime().db.session() as session:
            if not is_visible(session, "channel", channel_id):
                abort(_error(404, _("no channel connection {id}", id=channel_id)))
            try:
                campaign = campaigns.create(
                    session,
                    workspace_id=current().workspace_id,
                    name=_text(data, "name", required=False),
                    segment_id=segment_id,
                    channel_connection_id=channel_id,
                    template=_text(data, "template", limit=512),
                    language=_text(data, "language", limit=16),
                    parameters=data.get("parameters", []),
                    budget_cap=_number(data, "budget_cap"),
                    scheduled_at=_when(data.get("scheduled_at"), "scheduled_at"),
                    products=data.get("products", []),
                )
            except campaigns.CampaignError as error:
                status = 404 if str(error).startswith("no segment") else 400
                abort(_error(status, str(error)))
            return jsonify(campaigns.as_json(campaign)), 201

    @bp.get("/campaigns/<int:campaign_id>")
    def get_campaign(campaign_id: int) -> Response:
        with runtime().db.session() as session:
            campaign = _campaign(session, campaign_id)
            return jsonify(campaigns.as_json(campaign, campaigns.progress(session, campaign)))

    @bp.get("/campaigns/<int:campaign_id>/preview")
    def preview_campaign(campaign_id: int) -> Response:
        with runtime().db.session() as session:
            campaign = _campaign(session, campaign_id)
            segment = _segment(session, campaign.segment_id)
            found = segment_preview(
                session, _filters(segment.filters), channel_id=campaign.channel_connection_id, cap=campaign.budget_cap
            )
            if campaign.products:
                # One template message per contact, however many cards: the cost above is the campaign's.
                found["cards"] = product_cards.describe(session, campaign.channel_connection_id, campaign.products)
            return jsonify(found)

    def _act(campaign_id: int, action: str) -> Response:
        with runtime().db.session() as session:
            _campaign(session, campaign_id)
        rt = runtime()
        try:
            if action == "start":
                campaigns.start(rt, campaign_id)
            elif action == "pause":
                campaigns.pause(rt, campaign_id)
            elif action == "resume":
                data = request.get_json(silent=True)
                cap = data.get("budget_cap") if isinstance(data, dict) else None
                if cap is not None:
                    cap = _number({"budget_cap": cap}, "budget_cap")
                campaigns.resume(rt, campaign_id, budget_cap=cap)
            else:
                campaigns.cancel(rt, campaign_id)
        except campaigns.CampaignError as error:
            abort(_error(409, str(error)))
        with rt.db.session() as session:
            campaign = _campaign(session, campaign_id)
            return jsonify(campaigns.as_json(campaign, campaigns.progress(session, campaign)))

    @bp.post("/campaigns/<int:campaign_id>/start")
    def start_campaign(campaign_id: int) -> Response:
        return _act(campaign_id, "start")

    @bp.post("/campaigns/<int:campaign_id>/pause")
    def pause_campaign(campaign_id: int) -> Response:
        return _act(campaign_id, "pause")

    @bp.post("/campaigns/<int:campaign_id>/resume")
    def resume_campaign(campaign_id: int) -> Response:
        return _act(campaign_id, "resume")

    @bp.post("/campaigns/<int:campaign_id>/cancel")
    def cancel_campaign(campaign_id: int) -> Response:
        return _act(campaign_id, "cancel")

    @bp.get("/earned")
    def earned() -> Response:
        today = datetime.now(UTC).date()
        since, until = _period(request.args.get("since"), request.args.get("until"), today)
        with runtime().db.session() as session:
            shops = list(session.scalars(select(ShopConnection.id).where(shop_visible(ShopConnection.id))))
            figures = attribution.earned(session, shops, since, until)
        return jsonify({"since": since.date().isoformat(), "until": until.date().isoformat(), **figures})

    return bp


def _period(since: str | None, until: str | None, today: date) -> tuple[datetime, datetime]:
    """``[since, until)`` as UTC times: the last 30 days by default; ``until`` is inclusive as a day."""
    try:
        end = date.fromisoformat(until) if until else today
        start = date.fromisoformat(since) if since else end - timedelta(days=29)
    except ValueError:
        abort(_error(400, _("since and until must be dates (YYYY-MM-DD)")))
    if start > end or (end - start).days > 366:
        abort(_error(400, _("since must be before until, at most a year apart")))
    return (
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1),
    )
