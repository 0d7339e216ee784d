"""Campaigns: one approved template with per-contact parameters, sent from one WhatsApp number to a segment.

Life: ``draft`` -> ``scheduled`` (a start time in the future) -> ``running`` -> ``done``; ``paused`` and back to
``running``; ``cancelled`` from any state but ``done``. The fan-out task (:data:`FANOUT_TASK`) walks the segment by
contact id in chunks. Each chunk, in one transaction: skips whom the rules exclude (no consent, opted out, the
frequency cap, unreachable, US numbers), adds one outbox row per contact (idempotency key
``campaign:<id>:<contact>``: a contact gets a campaign once), enqueues their ``message.send_batch`` tasks and moves
the campaign's cursor. A crash rolls the chunk back and the task, run again, goes on from the cursor: nothing is
lost or sent twice. The send itself follows the outbox rules (consent again, the customer's quiet hours, the daily
budget and the reach limit defer; the Marketing Messages API when the number uses it).

Pausing holds the campaign's rows not yet handed to the channel (status ``held``); resuming queues them again.
Cancelling skips them. The budget cap: the fan-out stops (paused, with the reason) before the estimated cost of
what it queued would pass it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from connector.campaigns import preview, segments
from connector.campaigns.texts import _
from connector.chat.messages import enqueue_batches
from connector.db.models import CatalogItem, Contact, OutboundMessage, ShopVariant
from connector.db.models_sales import Campaign, Segment
from connector.notify import pricing, product_cards
from connector.notify.contacts import contacts_by_id
from connector.notify.outbox import QUEUE_CHUNK, queue_notifications, record_event
from connector.notify.policy import CAMPAIGN

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

FANOUT_TASK = "campaigns.fanout"
#: Seconds between looks at a campaign whose contacts were all queued but whose messages still wait.
CHECK_SECONDS = 2
#: Placeholders a parameter may hold, filled per contact.
PLACEHOLDERS = ("name", "first_name", "phone", "country")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: Outbox states of a campaign's rows not yet handed to the channel.
WAITING = ("pending", "deferred")
FINAL = ("done", "cancelled")


class CampaignError(ValueError):
    """A request the campaign's state or its fields refuse, with the reason."""


def check_parameters(parameters: Any) -> list[str]:
    """The template's body parameters: at most 20 strings of at most 1,024 characters, placeholders known."""
    if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
        raise CampaignError(_("parameters must be a list of strings"))
    if len(parameters) > 20:
        raise CampaignError(_("a template takes at most 20 body parameters"))
    for value in parameters:
        if len(value) > 1024:
            raise CampaignError(_("a parameter is at most 1,024 characters long"))
        unknown = [p for p in _PLACEHOLDER.findall(value) if p not in PLACEHOLDERS]
        if unknown:
            raise CampaignError(
                _(
                    "unknown placeholder {name}; known: {known}",
                    name="{" + unknown[0] + "}",
                    known=", ".join(PLACEHOLDERS),
                )
            )
    return parameters


def fill(parameters: list[str], contact: Contact) -> list[str]:
    """The parameters for one contact (an empty name reads "there", as the notifications do)."""
    name = contact.name.strip() or _("there")
    values = {
        "name": name,
        "first_name": name.split()[0],
        "phone": contact.phone or "",
        "country": preview.country_of_prefix(contact.phone) or "",
    }
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], value) or "-" for value in parameters]


def check_products(session: Session, channel_connection_id: int, products: Any) -> list[str]:
    """The featured products as catalog retailer ids: each given as the retailer id of an item in the channel's
    catalog, a variant's id or a product's id (its first variant in the catalog); at most 10, each once."""
    if products in (None, ""):
        return []
    if isinstance(products, str):
        products = [p.strip() for p in products.replace("\n", ",").split(",") if p.strip()]
    if not isinstance(products, list) or not all(isinstance(p, str) and 0 < len(p) <= 255 for p in products):
        raise CampaignError(_("products must be a list of product, variant or catalog ids"))
    wanted = list(dict.fromkeys(products))
    if len(wanted) > product_cards.MAX_CARDS:
        raise CampaignError(
            _(
                "a campaign features at most {limit} products, got {count}",
                limit=product_cards.MAX_CARDS,
                count=len(wanted),
            )
        )
    rows = session.execute(
        select(CatalogItem.retailer_id, ShopVariant.external_id, ShopVariant.product_external_id)
        .join(ShopVariant, ShopVariant.id == CatalogItem.shop_variant_id)
        .where(
            CatalogItem.channel_connection_id == channel_connection_id,
            CatalogItem.status != "deleted",
            or_(
                CatalogItem.retailer_id.in_(wanted),
                ShopVariant.external_id.in_(wanted),
                ShopVariant.product_external_id.in_(wanted),
            ),
        )
        .order_by(CatalogItem.id)
    ).all()
    # A retailer id wins over a variant id, a variant id over a product id (whose first catalog item is shown).
    found: dict[str, str] = {}
    for retailer_id, _variant, product in rows:
        found.setdefault(product, retailer_id)
    found.update({variant: retailer_id for retailer_id, variant, _product in rows})
    found.update({retailer_id: retailer_id for retailer_id, _variant, _product in rows})
    missing = [p for p in wanted if p not in found]
    if missing:
        raise CampaignError(_("{id} is not in this number's catalog", id=missing[0]))
    return list(dict.fromkeys(found[p] for p in wanted))


def create(
    session: Session,
    *,
    workspace_id: int,
    name: str,
    segment_id: int,
    channel_connection_id: int,
    template: str,
    language: str,
    parameters: list[str],
    budget_cap: float = 0.0,
    scheduled_at: datetime | None = None,
    products: Any = None,
) -> Campaign:
    """A draft campaign (checked: the segment is the workspace's, the fields are sane, the featured products are
    in the number's catalog)."""
    segment = session.get(Segment, segment_id)
    if segment is None or segment.workspace_id != workspace_id:
        raise CampaignError(_("no segment {id}", id=segment_id))
    if not template.strip() or len(template) > 512:
        raise CampaignError(_("template must name an approved template"))
    if not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", language):
        raise CampaignError(_("language must be a template language code such as en_US or de"))
    if budget_cap < 0:
        raise CampaignError(_("budget_cap must not be negative"))
    campaign = Campaign(
        workspace_id=workspace_id,
        name=name.strip()[:200] or template,
        segment_id=segment_id,
        channel_connection_id=channel_connection_id,
        template=template.strip(),
        language=language,
        parameters=check_parameters(parameters),
        products=check_products(session, channel_connection_id, products),
        budget_cap=budget_cap,
        scheduled_at=scheduled_at,
        status="draft",
        excluded={},
    )
    session.add(campaign)
    session.flush()
    return campaign


def _locked(rt: Runtime, session: Session, campaign_id: int) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if rt.db.is_postgres:
        query = query.with_for_update()
    campaign = session.scalar(query)
    if campaign is None:
        raise CampaignError(_("no campaign {id}", id=campaign_id))
    return campaign


def _enqueue_fanout(rt: Runtime, session: Session, campaign: Campaign, delay: float = 0.0) -> None:
    campaign.run += 1
    rt.queue.enqueue(
        FANOUT_TASK,
        {"campaign_id": campaign.id, "run": campaign.run},
        session=session,
        delay=delay,
        priority=50,
        idempotency_key=f"campaign:{campaign.id}:run:{campaign.run}",
    )


def start(rt: Runtime, campaign_id: int, *, now: datetime | None = None) -> Campaign:
    """Start a draft: at its ``scheduled_at`` when that is in the future, else now."""
    now = now or datetime.now(UTC)
    with rt.db.session() as session:
        campaign = _locked(rt, session, campaign_id)
        if campaign.status not in ("draft",):
            raise CampaignError(
                _("campaign {id} is {status}: only a draft can be started", id=campaign_id, status=campaign.status)
            )
        delay = (campaign.scheduled_at - now).total_seconds() if campaign.scheduled_at else 0.0
        campaign.status = "scheduled" if delay > 0 else "running"
        campaign.started_at = None if delay > 0 else now
        _enqueue_fanout(rt, session, campaign, max(0.0, delay))
        session.flush()
        session.expunge(campaign)
    rt.queue.notify()
    return campaign


def pause(rt: Runtime, campaign_id: int, reason: str | None = None) -> Campaign:
    """Stop the fan-out and hold every row not yet handed to the channel."""
    with rt.db.session() as session:
        campaign = _locked(rt, session, campaign_id)
        if campaign.status not in ("running", "scheduled"):
            raise CampaignError(
                _(
                    "campaign {id} is {status}: only a running campaign can be paused",
                    id=campaign_id,
                    status=campaign.status,
                )
            )
        campaign.status, campaign.status_reason = "paused", reason
        _hold(session, campaign.id)
        session.flush()
        session.expunge(campaign)
    return campaign


def _hold(session: Session, campaign_id: int) -> int:
    held = list(
        session.scalars(
            update(OutboundMessage)
            .where(OutboundMessage.campaign_id == campaign_id, OutboundMessage.status.in_(WAITING))
            .values(status="held", reason=_("campaign paused"))
            .returning(OutboundMessage.id)
        )
    )
    for message_id in held:
        record_event(session, message_id, "held", _("campaign paused"))
    return len(held)


def resume(rt: Runtime, campaign_id: int, *, budget_cap: float | None = None) -> Campaign:
    """Queue the held rows again and go on with the fan-out (``budget_cap``: a new cap, e.g. after it was hit)."""
    with rt.db.session() as session:
        campaign = _locked(rt, session, campaign_id)
        if campaign.status != "paused":
            raise CampaignError(
                _(
                    "campaign {id} is {status}: only a paused campaign can be resumed",
                    id=campaign_id,
                    status=campaign.status,
                )
            )
        if budget_cap is not None:
            if budget_cap < 0:
                raise CampaignError(_("budget_cap must not be negative"))
            campaign.budget_cap = budget_cap
        now = datetime.now(UTC)
        # Paused before its start time: it waits for that time again.
        delay = (
            (campaign.scheduled_at - now).total_seconds() if campaign.scheduled_at and not campaign.started_at else 0
        )
        campaign.status, campaign.status_reason = ("scheduled" if delay > 0 else "running"), None
        campaign.started_at = campaign.started_at or (None if delay > 0 else now)
        rows = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.campaign_id == campaign_id, OutboundMessage.status == "held")
            .values(status="pending", reason=None)
            .returning(OutboundMessage.id, OutboundMessage.recipient)
        ).all()
        for message_id, _recipient in rows:
            record_event(session, message_id, "pending", _("campaign resumed"))
        enqueue_batches(rt, session, campaign.channel_connection_id, [(m, r) for m, r in rows])
        _enqueue_fanout(rt, session, campaign, max(0.0, delay))
        session.flush()
        session.expunge(campaign)
    rt.queue.notify()
    return campaign


def cancel(rt: Runtime, campaign_id: int) -> Campaign:
    """End the campaign: rows not yet handed to the channel are skipped."""
    with rt.db.session() as session:
        campaign = _locked(rt, session, campaign_id)
        if campaign.status in FINAL:
            raise CampaignError(_("campaign {id} is {status} already", id=campaign_id, status=campaign.status))
        campaign.status, campaign.finished_at = "cancelled", datetime.now(UTC)
        why = _("campaign cancelled")
        skipped = session.scalars(
            update(OutboundMessage)
            .where(OutboundMessage.campaign_id == campaign_id, OutboundMessage.status.in_((*WAITING, "held")))
            .values(status="skipped", reason=why)
            .returning(OutboundMessage.id)
        ).all()
        for message_id in skipped:
            record_event(session, message_id, "skipped", why)
        session.flush()
        session.expunge(campaign)
    return campaign


def audience_query(session: Session, campaign: Campaign) -> list[Any]:
    """The campaign's contacts: its segment's, on its number."""
    segment = session.get(Segment, campaign.segment_id)
    filters = segments.parse(segment.filters if segment is not None else {})
    return segments.clauses(session, filters, Contact.channel_connection_id == campaign.channel_connection_id)


def run_fanout(rt: Runtime, campaign_id: int, run: int, heartbeat: Callable[[], None] | None = None) -> int:
    """Queue the campaign's messages chunk by chunk (see the module's docstring); returns how many this run queued."""
    settings = rt.config.notify
    queued = 0
    while True:
        now = datetime.now(UTC)
        with rt.db.session() as session:
            campaign = _locked(rt, session, campaign_id)
            if campaign.run != run or campaign.status not in ("running", "scheduled"):
                return queued  # paused, cancelled, or a newer run goes on
            if campaign.status == "scheduled":
                campaign.status, campaign.started_at = "running", now
            found = preview.audience(
                session, settings, audience_query(session, campaign), now, after=campaign.cursor, limit=QUEUE_CHUNK
            )
            if found.matching == 0:
                _finish_or_wait(rt, session, campaign, now)
                return queued
            take: list[int] = []
            cost = campaign.estimated_cost
            stopped = False
            country: dict[str, str | None] = {}
            for contact_id, _channel, phone, user_id, _inside in found.eligible:
                number = phone or "+" + user_id
                if number[:4] not in country or number.startswith(("+1", "+7")):
                    country[number[:4]] = preview.country_of_prefix(number)
                price = pricing.estimate(settings, "marketing", country[number[:4]], inside_window=False, at=now)
                if campaign.budget_cap > 0 and cost + price > campaign.budget_cap + 1e-9:
                    stopped = True
                    break
                cost += price
                take.append(contact_id)
            # The cursor passes every contact looked at; when the cap stops the chunk, only those before the first
            # one it held back (a raised cap and a resume go on from there).
            last_id = (take[-1] if take else campaign.cursor) if stopped else found.last_id
            excluded = dict(campaign.excluded or {})
            for contact_id, reason in found.excluded_ids:
                if contact_id <= last_id:
                    excluded[reason] = excluded.get(reason, 0) + 1
            contacts = contacts_by_id(session, take)
            created = queue_notifications(
                rt,
                session,
                kind=CAMPAIGN,
                purpose="marketing",
                variables={
                    "template": campaign.template,
                    "template_language": campaign.language,
                    "campaign_id": campaign.id,
                    # Chosen again at send time: sold-out or deleted products are left out of the cards.
                    **({"cards": list(campaign.products)} if campaign.products else {}),
                },
                recipients=[(contacts[c], f"campaign:{campaign.id}:{c}", None) for c in take],
                per_contact={c: {"body": fill(campaign.parameters, contacts[c])} for c in take},
                columns={"campaign_id": campaign.id},
            )
            messages = [
                (created[f"campaign:{campaign.id}:{c}"], contacts[c].channel_user_id)
                for c in take
                if f"campaign:{campaign.id}:{c}" in created
            ]
            if messages:
                enqueue_batches(rt, session, campaign.channel_connection_id, messages)
            campaign.cursor = last_id
            campaign.queued += len(messages)
            campaign.excluded = excluded
            campaign.estimated_cost = round(cost, 6)
            if stopped:
                campaign.status = "paused"
                campaign.status_reason = _(
                    "budget cap of {cap:g} reached: raise it and resume to reach the rest", cap=campaign.budget_cap
                )
            queued += len(messages)
        rt.queue.notify()
        if heartbeat is not None:
            heartbeat()
        if stopped:
            return queued


def _finish_or_wait(rt: Runtime, session: Session, campaign: Campaign, now: datetime) -> None:
    """Every contact was looked at: ``done`` once no message waits any more, else look again in a while (a
    campaign with messages deferred to tomorrow by the budget is still running, and can still be paused)."""
    waiting = session.scalar(
        select(OutboundMessage.id)
        .where(OutboundMessage.campaign_id == campaign.id, OutboundMessage.status.in_((*WAITING, "sending", "held")))
        .limit(1)
    )
    if waiting is None:
        campaign.status, campaign.finished_at = "done", now
        return
    rt.queue.enqueue(
        FANOUT_TASK,
        {"campaign_id": campaign.id, "run": campaign.run},
        session=session,
        delay=CHECK_SECONDS,
        priority=50,
        idempotency_key=f"campaign:{campaign.id}:run:{campaign.run}:wait:{int(now.timestamp()) // CHECK_SECONDS}",
    )


def progress(session: Session, campaign: Campaign) -> dict[str, Any]:
    """Live progress: queued, sent, delivered, read, failed by reason, skipped by reason, held, deferred, replied,
    ordered (orders credited to the campaign, with their revenue)."""
    from sqlalchemy import func

    from connector.db.models import InboundMessage
    from connector.db.models_sales import SalesOrder

    mine = OutboundMessage.campaign_id == campaign.id
    states = dict(
        session.execute(select(OutboundMessage.status, func.count()).where(mine).group_by(OutboundMessage.status)).all()
    )
    reached = states.get("sent", 0) + states.get("delivered", 0) + states.get("read", 0)

    def by_reason(status: str) -> dict[str, int]:
        return {
            (f"{code}: {why}" if code else why or "unknown"): n
            for code, why, n in session.execute(
                select(
                    OutboundMessage.error_code,
                    func.coalesce(OutboundMessage.error, OutboundMessage.reason),
                    func.count(),
                )
                .where(mine, OutboundMessage.status == status)
                .group_by(OutboundMessage.error_code, func.coalesce(OutboundMessage.error, OutboundMessage.reason))
            )
        }

    replied = session.scalar(
        select(func.count(func.distinct(OutboundMessage.contact_id)))
        .join(InboundMessage, InboundMessage.contact_id == OutboundMessage.contact_id)
        .where(mine, OutboundMessage.sent_at.is_not(None), InboundMessage.received_at > OutboundMessage.sent_at)
    )
    orders, revenue = session.execute(
        select(func.count(SalesOrder.id), func.coalesce(func.sum(SalesOrder.total), 0.0)).where(
            SalesOrder.campaign_id == campaign.id
        )
    ).one()
    return {
        "queued": campaign.queued,
        "waiting": states.get("pending", 0) + states.get("sending", 0),
        "sent": reached,
        "delivered": states.get("delivered", 0) + states.get("read", 0),
        "read": states.get("read", 0),
        "failed": states.get("failed", 0),
        "failed_by_reason": by_reason("failed"),
        "skipped": states.get("skipped", 0),
        "skipped_by_reason": by_reason("skipped"),
        "deferred": states.get("deferred", 0),
        "held": states.get("held", 0),
        "replied": int(replied or 0),
        "ordered": int(orders or 0),
        "revenue": round(float(revenue or 0.0), 2),
        "cost": round(
            float(
                session.scalar(
                    select(func.coalesce(func.sum(OutboundMessage.cost), 0.0)).where(
                        mine, OutboundMessage.status.in_(("sent", "delivered", "read"))
                    )
                )
                or 0.0
            ),
            4,
        ),
    }


def as_json(campaign: Campaign, progress_of: dict[str, Any] | None = None) -> dict[str, Any]:
    """A campaign as the API shows it."""
    return {
        "id": campaign.id,
        "name": campaign.name,
        "segment_id": campaign.segment_id,
        "channel_connection_id": campaign.channel_connection_id,
        "template": campaign.template,
        "language": campaign.language,
        "parameters": list(campaign.parameters or []),
        "products": list(campaign.products or []),
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "scheduled_at": campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
        "budget_cap": campaign.budget_cap,
        "estimated_cost": campaign.estimated_cost,
        "excluded": dict(campaign.excluded or {}),
        "created_at": campaign.created_at.isoformat() if campaign.created_at else None,
        "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
        "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
        **({"progress": progress_of} if progress_of is not None else {}),
    }
