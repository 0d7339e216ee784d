"""Segments: saved filters over contacts, compiled to one SQL query (100,000 contacts count in well under a second).

A filter (every key optional; lists match any of their values)::

    {"channel": ["whatsapp"], "channel_connection_id": [3], "consent": "marketing", "language": ["de"],
     "country": ["DE", "AT"], "referral": "ad", "bought": ["prod-1"], "subscribed": ["var-9"],
     "collections": ["winter"], "min_orders": 1, "max_orders": 5, "last_order_after": "2026-11-01",
     "last_order_before": "2026-12-01", "last_message_after": "2026-11-15", "last_message_before": null}

``country`` goes by the number's calling code (the countries sharing +1 match each other). ``referral``: the
contact once wrote from a referral (``any``), or from a click-to-WhatsApp ``ad``, a ``post``, a ``link`` with a ref
or a ``product``. ``bought``: product or variant ids of paid orders; ``subscribed``: product or variant ids of
back-in-stock subscriptions; ``collections``: the shop's collections, which stand for their products in both.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select

from connector.campaigns.texts import _
from connector.db.models import ChannelConnection, Contact, InboundMessage, ShopVariant
from connector.db.models_notify import BackInStockSubscription, Consent
from connector.db.models_sales import SalesOrder, SalesOrderLine

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class SegmentError(ValueError):
    """A filter that cannot be read, with the reason."""


class Filters(BaseModel):
    """What a segment's filter may hold (unknown keys are refused: a typo must not widen a campaign)."""

    model_config = ConfigDict(extra="forbid")

    channel: list[str] = Field(default_factory=list)
    channel_connection_id: list[int] = Field(default_factory=list)
    consent: Literal["marketing", "utility"] | None = None
    language: list[str] = Field(default_factory=list)
    country: list[str] = Field(default_factory=list)
    referral: Literal["any", "ad", "post", "link", "product"] | None = None
    bought: list[str] = Field(default_factory=list)
    subscribed: list[str] = Field(default_factory=list)
    collections: list[str] = Field(default_factory=list)
    min_orders: int | None = Field(None, ge=0)
    max_orders: int | None = Field(None, ge=0)
    last_order_after: date | None = None
    last_order_before: date | None = None
    last_message_after: date | None = None
    last_message_before: date | None = None

    @field_validator("country")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        codes = [c.upper() for c in value]
        unknown = [c for c in codes if not phonenumbers.country_code_for_region(c)]
        if unknown:
            raise ValueError(f"unknown country code(s) {', '.join(unknown)}")
        return codes

    @field_validator("language")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        return [v.replace("-", "_").split("_")[0].lower() for v in value if v]


def parse(raw: Any) -> Filters:
    """The filter of a request or a stored segment; :class:`SegmentError` with the reason when it is wrong."""
    if not isinstance(raw, dict):
        raise SegmentError(_("filters must be a JSON object"))
    try:
        return Filters.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "filters"
        raise SegmentError(f"{where}: {first['msg']}") from None


def _day(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _calling_codes(countries: list[str]) -> set[str]:
    return {str(phonenumbers.country_code_for_region(c)) for c in countries}


def _collection_items(session: Session, collections: list[str]) -> set[str]:
    """Product and variant ids of the shop variants in any of ``collections`` (read from the synced catalog)."""
    wanted = {c.lower() for c in collections}
    found: set[str] = set()
    rows = session.execute(select(ShopVariant.external_id, ShopVariant.product_external_id, ShopVariant.data))
    for variant_id, product_id, data in rows:
        names = data.get("collections") if isinstance(data, dict) else None
        if isinstance(names, list) and wanted & {str(n).lower() for n in names}:
            found.update((str(variant_id), str(product_id)))
    return found


def conditions(session: Session, filters: Filters) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``filters`` over :class:`~connector.db.models.Contact`."""
    where: list[ColumnElement[bool]] = []
    if filters.channel:
        where.append(
            Contact.channel_connection_id.in_(
                select(ChannelConnection.id).where(ChannelConnection.channel.in_(filters.channel))
            )
        )
    if filters.channel_connection_id:
        where.append(Contact.channel_connection_id.in_(filters.channel_connection_id))
    # Correlated EXISTS on indexed columns: a fan-out's chunk of contacts probes the index once per contact instead of
    # reading every consent (or subscription) of the shop, as an IN (subquery) would, chunk after chunk.
    if filters.consent:
        where.append(
            exists().where(
                Consent.contact_id == Contact.id, Consent.purpose == filters.consent, Consent.granted.is_(True)
            )
        )
    if filters.language:
        where.append(or_(*(func.lower(Contact.locale).like(f"{lang}%") for lang in filters.language)))
    if filters.country:
        where.append(or_(*(Contact.phone.like(f"+{code}%") for code in _calling_codes(filters.country))))
    if filters.referral:
        where.append(
            exists().where(InboundMessage.contact_id == Contact.id, InboundMessage.has_referral.is_(True))
        )  # the kind of referral is read from the (encrypted) messages afterwards: see :func:`clauses`
    items = _collection_items(session, filters.collections) if filters.collections else set()
    bought = set(filters.bought) | items
    if bought:
        where.append(
            exists().where(
                SalesOrder.contact_id == Contact.id,
                SalesOrderLine.order_id == SalesOrder.id,
                or_(SalesOrderLine.product_external_id.in_(bought), SalesOrderLine.variant_external_id.in_(bought)),
            )
        )
    subscribed = set(filters.subscribed) | items
    if subscribed:
        where.append(
            exists().where(
                BackInStockSubscription.contact_id == Contact.id,
                BackInStockSubscription.variant_external_id.in_(subscribed),
            )
        )
    if filters.min_orders is not None or filters.max_orders is not None:
        orders = select(func.count(SalesOrder.id)).where(SalesOrder.contact_id == Contact.id).scalar_subquery()
        if filters.min_orders is not None:
            where.append(orders >= filters.min_orders)
        if filters.max_orders is not None:
            where.append(orders <= filters.max_orders)
    if filters.last_order_after or filters.last_order_before:
        last = select(func.max(SalesOrder.paid_at)).where(SalesOrder.contact_id == Contact.id).scalar_subquery()
        if filters.last_order_after:
            where.append(last >= _day(filters.last_order_after))
        if filters.last_order_before:
            where.append(last < _day(filters.last_order_before))
    if filters.last_message_after:
        where.append(Contact.last_inbound_at >= _day(filters.last_message_after))
    if filters.last_message_before:
        where.append(Contact.last_inbound_at < _day(filters.last_message_before))
    return where


def _referral_kind(data: Any) -> str | None:
    referral = data.get("referral") if isinstance(data, dict) else None
    if not isinstance(referral, dict) or not referral:
        return None
    source = str(referral.get("source_type") or referral.get("source") or "").lower()
    if source in ("ad", "ads") or referral.get("ctwa_clid") or referral.get("ad_click_id"):
        return "ad"
    if source == "post":
        return "post"
    if referral.get("ref"):
        return "link"
    if referral.get("product_retailer_id"):
        return "product"
    return "other"


def referral_contacts(session: Session, kind: str, among: Select[Any]) -> set[int]:
    """Contacts (ids of ``among``) who once wrote from a referral of ``kind`` (``any``: of any kind)."""
    rows = session.execute(
        select(InboundMessage.contact_id, InboundMessage.data).where(
            InboundMessage.has_referral.is_(True), InboundMessage.contact_id.in_(among)
        )
    )
    return {int(str(contact_id)) for contact_id, data in rows if kind == "any" or _referral_kind(data) == kind}


def clauses(session: Session, filters: Filters, scope: ColumnElement[bool] | None = None) -> list[ColumnElement[bool]]:
    """The WHERE clauses over :class:`~connector.db.models.Contact` of the matching contacts (``scope``: the
    caller's visibility or a campaign's channel), the kind of referral included."""
    where = conditions(session, filters)
    if scope is not None:
        where.append(scope)
    if filters.referral and filters.referral != "any":
        statement = select(Contact.id).where(and_(*where))
        where.append(Contact.id.in_(referral_contacts(session, filters.referral, statement)))
    return where


def query(session: Session, filters: Filters, scope: ColumnElement[bool] | None = None) -> Select[Any]:
    """The ids of the matching contacts."""
    return select(Contact.id).where(*clauses(session, filters, scope))
