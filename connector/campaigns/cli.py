"""``connector campaigns ...``: segments and campaigns from the command line.

    connector campaigns segments create NAME --filters '{"consent": "marketing", "country": ["DE"]}'
    connector campaigns segments list
    connector campaigns segments preview ID [--channel ID] [--budget-cap 50]
    connector campaigns create --segment ID --channel ID --template NAME --language en_US [--param '{first_name}']
        [--budget-cap 50] [--at 2026-12-08T10:00:00+01:00] [--name NAME]
    connector campaigns start|pause|resume|cancel ID
    connector campaigns status ID
    connector campaigns earned [--since YYYY-MM-DD] [--until YYYY-MM-DD]

Each prints JSON (the API's answer). ``--workspace ID|NAME`` where there are several workspaces.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from connector.cli_workspaces import workspace_id_of, workspace_option


def _print(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _workspace(runtime: Any, workspace: str | None) -> int:
    from connector.workspaces import resolve

    found = workspace_id_of(runtime, workspace)
    if found is not None:
        return found
    from connector.errors import SettingsError

    try:
        with runtime.db.session() as session:
            return resolve(session, None)
    except SettingsError as error:
        raise click.BadParameter(str(error), param_hint="--workspace") from None


def connector_register_cli(cli: click.Group) -> None:
    """Add ``connector campaigns``."""

    @cli.group("campaigns")
    def group() -> None:
        """Campaigns to segments, and what chat earned."""

    @group.group("segments")
    def segments_group() -> None:
        """Segments: saved filters over contacts."""

    @segments_group.command("create")
    @click.argument("name")
    @click.option("--filters", "raw", default="{}", help="The filter as JSON (see docs/selling.md).")
    @workspace_option
    @click.pass_obj
    def create_segment(state: Any, name: str, raw: str, workspace: str | None) -> None:
        """Save a segment."""
        from connector.campaigns import segments
        from connector.db.models_sales import Segment

        rt = state.runtime
        try:
            filters = segments.parse(json.loads(raw))
        except (ValueError, segments.SegmentError) as error:
            raise click.BadParameter(str(error), param_hint="--filters") from None
        workspace_id = _workspace(rt, workspace)
        with rt.db.session() as session:
            segment = Segment(
                workspace_id=workspace_id, name=name, filters=filters.model_dump(mode="json", exclude_defaults=True)
            )
            session.add(segment)
            session.flush()
            _print({"id": segment.id, "name": segment.name, "filters": segment.filters})

    @segments_group.command("list")
    @workspace_option
    @click.pass_obj
    def list_segments(state: Any, workspace: str | None) -> None:
        """List the workspace's segments."""
        from sqlalchemy import select

        from connector.db.models_sales import Segment

        rt = state.runtime
        workspace_id = _workspace(rt, workspace)
        with rt.db.session() as session:
            rows = session.scalars(select(Segment).where(Segment.workspace_id == workspace_id)).all()
            _print([{"id": s.id, "name": s.name, "filters": s.filters} for s in rows])

    @segments_group.command("preview")
    @click.argument("segment_id", type=int)
    @click.option("--channel", "channel_id", type=int, default=None, help="Only the contacts of this number.")
    @click.option("--budget-cap", type=float, default=0.0)
    @workspace_option
    @click.pass_obj
    def preview_segment(
        state: Any, segment_id: int, channel_id: int | None, budget_cap: float, workspace: str | None
    ) -> None:
        """Who matches, who is excluded and why, the cost by country, the shares deferred."""
        from sqlalchemy import select

        from connector.campaigns import preview, segments
        from connector.db.models import ChannelConnection, Contact, ShopConnection
        from connector.db.models_sales import Segment

        rt = state.runtime
        workspace_id = _workspace(rt, workspace)
        with rt.db.session() as session:
            segment = session.get(Segment, segment_id)
            if segment is None or segment.workspace_id != workspace_id:
                raise click.BadParameter(f"no segment {segment_id}", param_hint="SEGMENT_ID")
            channels = (
                select(ChannelConnection.id).join(ShopConnection).where(ShopConnection.workspace_id == workspace_id)
            )
            scope: Any = Contact.channel_connection_id.in_(channels)
            if channel_id is not None:
                scope = scope & (Contact.channel_connection_id == channel_id)
            contacts = segments.clauses(session, segments.parse(segment.filters), scope)
            _print(preview.preview(session, rt.config.notify, contacts, datetime.now(UTC), budget_cap=budget_cap))

    @group.command("create")
    @click.option("--segment", "segment_id", type=int, required=True)
    @click.option("--channel", "channel_id", type=int, required=True, help="The WhatsApp number's connection id.")
    @click.option("--template", required=True, help="The approved marketing template's name.")
    @click.option("--language", required=True, help="The template's language code (en_US, de).")
    @click.option("--param", "params", multiple=True, help="A body parameter ({name}, {first_name}, text).")
    @click.option("--budget-cap", type=float, default=0.0)
    @click.option("--at", "at", default=None, help="Start time (ISO 8601); default: when started.")
    @click.option("--name", default="")
    @click.option(
        "--product",
        "products",
        multiple=True,
        help="A featured product (up to 10): its product, variant or catalog id; each becomes a card of the "
        "template's product carousel.",
    )
    @workspace_option
    @click.pass_obj
    def create_campaign(
        state: Any,
        segment_id: int,
        channel_id: int,
        template: str,
        language: str,
        params: tuple[str, ...],
        budget_cap: float,
        at: str | None,
        name: str,
        products: tuple[str, ...],
        workspace: str | None,
    ) -> None:
        """Create a draft campaign (start it with `connector campaigns start ID`)."""
        from connector.campaigns import campaigns
        from connector.db.models import ChannelConnection, ShopConnection

        rt = state.runtime
        workspace_id = _workspace(rt, workspace)
        scheduled = None
        if at:
            try:
                scheduled = datetime.fromisoformat(at)
            except ValueError:
                raise click.BadParameter("an ISO 8601 time", param_hint="--at") from None
            scheduled = scheduled if scheduled.tzinfo else scheduled.replace(tzinfo=UTC)
        with rt.db.session() as session:
            channel = session.get(ChannelConnection, channel_id)
            shop = session.get(ShopConnection, channel.shop_connection_id) if channel is not None else None
            if shop is None or shop.workspace_id != workspace_id:
                raise click.BadParameter(f"no channel connection {channel_id}", param_hint="--channel")
            try:
                campaign = campaigns.create(
                    session,
                    workspace_id=workspace_id,
                    name=name,
                    segment_id=segment_id,
                    channel_connection_id=channel_id,
                    template=template,
                    language=language,
                    parameters=list(params),
                    budget_cap=budget_cap,
                    scheduled_at=scheduled,
                    products=list(products),
                )
            except campaigns.CampaignError as error:
                raise click.UsageError(str(error)) from None
            _print(campaigns.as_json(campaign))

    def _action(name: str) -> None:
        @group.command(name)
        @click.argument("campaign_id", type=int)
        @workspace_option
        @click.pass_obj
        def command(state: Any, campaign_id: int, workspace: str | None) -> None:
            from connector.campaigns import campaigns

            rt = state.runtime
            _owned(rt, campaign_id, _workspace(rt, workspace))
            try:
                getattr(campaigns, name)(rt, campaign_id)
            except campaigns.CampaignError as error:
                raise click.UsageError(str(error)) from None
            _status(rt, campaign_id)

        command.__doc__ = {
            "start": "Start a draft campaign (at its scheduled time, if any).",
            "pause": "Pause: nothing more goes out until resumed.",
            "resume": "Resume a paused campaign.",
            "cancel": "Cancel: what was not sent yet is skipped.",
        }[name]

    for action in ("start", "pause", "resume", "cancel"):
        _action(action)

    @group.command("status")
    @click.argument("campaign_id", type=int)
    @workspace_option
    @click.pass_obj
    def status(state: Any, campaign_id: int, workspace: str | None) -> None:
        """The campaign and its live progress."""
        rt = state.runtime
        _owned(rt, campaign_id, _workspace(rt, workspace))
        _status(rt, campaign_id)

    @group.command("earned")
    @click.option("--since", default=None, help="First day (YYYY-MM-DD); default: 30 days ago.")
    @click.option("--until", default=None, help="Last day (YYYY-MM-DD); default: today.")
    @workspace_option
    @click.pass_obj
    def earned(state: Any, since: str | None, until: str | None, workspace: str | None) -> None:
        """Revenue and orders by source per day and per campaign, next to their cost."""
        from sqlalchemy import select

        from connector.campaigns import attribution
        from connector.db.models import ShopConnection

        rt = state.runtime
        workspace_id = _workspace(rt, workspace)
        end = date.fromisoformat(until) if until else datetime.now(UTC).date()
        start = date.fromisoformat(since) if since else end - timedelta(days=29)
        with rt.db.session() as session:
            shops = list(session.scalars(select(ShopConnection.id).where(ShopConnection.workspace_id == workspace_id)))
            _print(
                attribution.earned(
                    session,
                    shops,
                    datetime(start.year, start.month, start.day, tzinfo=UTC),
                    datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1),
                )
            )


def _owned(rt: Any, campaign_id: int, workspace_id: int) -> None:
    from connector.db.models_sales import Campaign

    with rt.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.workspace_id != workspace_id:
            raise click.BadParameter(f"no campaign {campaign_id}", param_hint="CAMPAIGN_ID")


def _status(rt: Any, campaign_id: int) -> None:
    from connector.campaigns import campaigns
    from connector.db.models_sales import Campaign

    with rt.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        _print(campaigns.as_json(campaign, campaigns.progress(session, campaign)))
