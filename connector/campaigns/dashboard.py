"""The dashboard's Campaigns page: segments with their preview, campaigns with live progress and their controls,
and what chat earned (revenue and orders by source per day and per campaign, next to their cost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from connector.api.scope import channel_visible, current, is_visible, shop_visible
from connector.campaigns import attribution, campaigns, preview
from connector.dashboard.security import login_required
from connector.dashboard.web import _
from connector.db.models import ChannelConnection, ShopConnection
from connector.db.models_sales import Campaign, Segment
from connector.notify import product_cards
from connector.web.context import runtime


def _earned() -> dict[str, Any]:
    until = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    with runtime().db.session() as session:
        shops = list(session.scalars(select(ShopConnection.id).where(shop_visible(ShopConnection.id))))
        return attribution.earned(session, shops, until - timedelta(days=30), until)


def register(bp: Blueprint) -> None:
    """Add the Campaigns page, a segment's preview and the campaign controls to the dashboard blueprint."""

    @bp.get("/campaigns")
    @login_required
    def campaigns_page() -> Any:
        """Segments, campaigns with their progress, and what chat earned."""
        workspace = current().workspace_id
        with runtime().db.session() as session:
            segments = session.scalars(select(Segment).where(Segment.workspace_id == workspace)).all()
            rows = [
                (c, campaigns.progress(session, c))
                for c in session.scalars(
                    select(Campaign)
                    .where(Campaign.workspace_id == workspace, channel_visible(Campaign.channel_connection_id))
                    .order_by(Campaign.id.desc())
                    .limit(100)
                )
            ]
            channels = session.scalars(
                select(ChannelConnection).where(
                    ChannelConnection.channel == "whatsapp", channel_visible(ChannelConnection.id)
                )
            ).all()
            session.expunge_all()
        return render_template(
            "dashboard/campaigns.html", segments=segments, rows=rows, earned=_earned(), channels=channels
        )

    @bp.post("/campaigns/new")
    @login_required
    def campaign_new() -> Any:
        """A draft campaign from the page's form; featured products become the cards of its template."""
        form = request.form
        try:
            segment_id, channel_id = int(form.get("segment_id", "")), int(form.get("channel_connection_id", ""))
            budget_cap = float(form.get("budget_cap") or 0)
        except ValueError:
            abort(400, description="segment_id, channel_connection_id and budget_cap must be numbers")
        with runtime().db.session() as session:
            if not is_visible(session, "channel", channel_id):
                abort(404)
            try:
                campaigns.create(
                    session,
                    workspace_id=current().workspace_id,
                    name=form.get("name", ""),
                    segment_id=segment_id,
                    channel_connection_id=channel_id,
                    template=form.get("template", "")[:512],
                    language=form.get("language", "")[:16],
                    parameters=[line.strip() for line in form.get("parameters", "").splitlines() if line.strip()],
                    budget_cap=budget_cap,
                    products=form.get("products", ""),
                )
                flash(_("Campaign created as a draft: preview it, then start it."), "ok")
            except campaigns.CampaignError as error:
                session.rollback()
                flash(str(error), "error")
        return redirect(url_for("dashboard.campaigns_page"))

    @bp.get("/campaigns/<int:campaign_id>/preview")
    @login_required
    def campaign_preview(campaign_id: int) -> Any:
        """The campaign's audience and cost, and the cards of its featured products as they would go out now."""
        from connector.campaigns.api import segment_preview as compute
        from connector.campaigns.segments import parse

        with runtime().db.session() as session:
            campaign = session.scalar(
                select(Campaign).where(
                    Campaign.id == campaign_id,
                    Campaign.workspace_id == current().workspace_id,
                    channel_visible(Campaign.channel_connection_id),
                )
            )
            segment = session.get(Segment, campaign.segment_id) if campaign is not None else None
            if campaign is None or segment is None:
                abort(404)
            found = compute(
                session, parse(segment.filters), channel_id=campaign.channel_connection_id, cap=campaign.budget_cap
            )
            cards = product_cards.describe(session, campaign.channel_connection_id, list(campaign.products or []))
            session.expunge(segment)
        return render_template(
            "dashboard/segment_preview.html", segment=segment, preview=found, reasons=preview.reasons(), cards=cards
        )

    @bp.get("/campaigns/segments/<int:segment_id>")
    @login_required
    def segment_preview(segment_id: int) -> Any:
        """Who matches, who is excluded and why, the cost by country, the shares deferred."""
        from connector.campaigns.api import segment_preview as compute
        from connector.campaigns.segments import parse

        with runtime().db.session() as session:
            segment = session.scalar(
                select(Segment).where(Segment.id == segment_id, Segment.workspace_id == current().workspace_id)
            )
            if segment is None:
                abort(404)
            found = compute(session, parse(segment.filters))
            session.expunge(segment)
        return render_template(
            "dashboard/segment_preview.html", segment=segment, preview=found, reasons=preview.reasons()
        )

    @bp.post("/campaigns/<int:campaign_id>/control")
    @login_required
    def campaign_control(campaign_id: int) -> Any:
        """Start, pause, resume or cancel a campaign (the form's ``action``)."""
        with runtime().db.session() as session:
            found = session.scalar(
                select(Campaign.id).where(
                    Campaign.id == campaign_id,
                    Campaign.workspace_id == current().workspace_id,
                    channel_visible(Campaign.channel_connection_id),
                )
            )
        if found is None:
            abort(404)
        action = request.form.get("action", "")
        if action not in ("start", "pause", "resume", "cancel"):
            abort(400, description="action must be start, pause, resume or cancel")
        try:
            getattr(campaigns, action)(runtime(), campaign_id)
            flash(_("Done."), "ok")
        except campaigns.CampaignError as error:
            flash(str(error), "error")
        return redirect(url_for("dashboard.campaigns_page"))
