"""The product cards of a product-card carousel template, chosen when it is sent (not when it was queued).

A campaign that features products and a recovery reminder for a cart with several products name catalog items;
at send time each still has to be in the channel's catalog, listed in the shop and in stock, or it is left out of
the cards (a card for something the customer cannot buy is a broken promise). None left: the message is skipped
with :data:`NONE_LEFT`. Each card is the catalog's product (WhatsApp shows its image, title and price from the
catalog, platform-changes-2026.md §7; its View button opens it), so it only names the product's retailer id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from connector import model
from connector.db.models import CatalogItem, ShopVariant

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Most cards a product-card carousel template holds (platform-changes-2026.md §7).
MAX_CARDS = 10
#: Why a message whose products are all gone is not sent.
NONE_LEFT = "every product of its cards is sold out or no longer in the catalog: not sent"


def describe(session: Session, channel_connection_id: int, retailer_ids: Sequence[str]) -> list[dict[str, Any]]:
    """What each card would show now (title, price, image as the catalog has them from the shop) and whether it is
    shown: a sold-out or deleted product is left out, with the reason."""
    rows = {
        rid: (variant, status)
        for rid, variant, status in session.execute(
            select(CatalogItem.retailer_id, ShopVariant, CatalogItem.status)
            .join(ShopVariant, ShopVariant.id == CatalogItem.shop_variant_id)
            .where(
                CatalogItem.channel_connection_id == channel_connection_id, CatalogItem.retailer_id.in_(retailer_ids)
            )
        ).all()
    }
    cards = []
    for rid in retailer_ids:
        variant, status = rows.get(rid, (None, "deleted"))
        data = variant.data if variant is not None else {}
        price = data.get("price") or {}
        if variant is None or status == "deleted" or not variant.listed:
            why: str | None = "no longer in the catalog"
        elif not variant.available or variant.stock_quantity == 0:
            why = "sold out"
        else:
            why = None
        cards.append(
            {
                "retailer_id": rid,
                "title": variant.title if variant is not None else None,
                "price": f"{price.get('amount', '')} {price.get('currency', '')}".strip() or None,
                "image_url": data.get("image_url"),
                "shown": why is None,
                "left_out": why,
            }
        )
    return cards


def buyable(session: Session, channel_connection_id: int, retailer_ids: Sequence[str]) -> list[str]:
    """The retailer ids of ``retailer_ids`` (in their order, each once, at most :data:`MAX_CARDS`) that the channel's
    catalog holds and the shop still sells and has in stock."""
    wanted = list(dict.fromkeys(str(r) for r in retailer_ids if r))
    if not wanted:
        return []
    rows = session.execute(
        select(CatalogItem.retailer_id, ShopVariant.listed, ShopVariant.available, ShopVariant.stock_quantity)
        .join(ShopVariant, ShopVariant.id == CatalogItem.shop_variant_id)
        .where(
            CatalogItem.channel_connection_id == channel_connection_id,
            CatalogItem.retailer_id.in_(wanted),
            CatalogItem.status != "deleted",
        )
    ).all()
    ok = {rid for rid, listed, available, stock in rows if listed and available and stock != 0}
    return [rid for rid in wanted if rid in ok][:MAX_CARDS]


def retailer_ids_of_variants(session: Session, channel_connection_id: int, variant_ids: Sequence[str]) -> list[str]:
    """The catalog retailer ids of a shop's variants (by their external ids) in the channel's catalog, in order."""
    wanted = list(dict.fromkeys(str(v) for v in variant_ids if v))
    if not wanted:
        return []
    found = dict(
        session.execute(
            select(ShopVariant.external_id, CatalogItem.retailer_id)
            .join(CatalogItem, CatalogItem.shop_variant_id == ShopVariant.id)
            .where(CatalogItem.channel_connection_id == channel_connection_id, ShopVariant.external_id.in_(wanted))
        ).all()
    )
    return [found[v] for v in wanted if v in found]


def with_cards(message: model.TemplateMessage, retailer_ids: Sequence[str]) -> model.OfferTemplateMessage:
    """``message`` as a product-card carousel template showing ``retailer_ids``."""
    offer = message if isinstance(message, model.OfferTemplateMessage) else None
    return model.OfferTemplateMessage(
        name=message.name,
        language=message.language,
        body_parameters=message.body_parameters,
        header_parameters=message.header_parameters,
        button_parameters=message.button_parameters,
        coupon_code=offer.coupon_code if offer else "",
        offer_expires_at=offer.offer_expires_at if offer else None,
        cards=[model.TemplateCard(retailer_id=rid) for rid in retailer_ids],
    )
