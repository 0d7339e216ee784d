"""Browse and search: the synced catalog (``shop_variants``) as product lists, product cards or pick lists.

WhatsApp shows products from the Meta catalog, so there only variants that are in the channel's
catalog are offered, in product lists of up to ``[chat] products_per_page`` products (30 at most,
in up to 10 sections), paged with a "More" button. Channels that draw product cards themselves
(``ChannelAdapter.product_cards``: Messenger and Instagram) get the same page as a product list handed to
``ChannelAdapter.present_products`` with each product's data (:class:`~connector.adapters.ProductOffer`):
generic-template carousels whose "Buy" taps reply ``add:<id>`` (into the chat cart) and whose sold-out cards
offer "Notify me" (``notify:<id>``). Any other channel gets a pick list. Sold-out variants are listed in
their own section and come with a "notify me" choice.

A customer who writes from a product (:func:`product`) gets that one product: WhatsApp's single product message
and a "Buy" (or, sold out, "notify me") button; a card with the same choice on Messenger and Instagram.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from connector import model
from connector.adapters import ProductOffer
from connector.conversation.replies import menu, short
from connector.db.models import CatalogItem, ShopVariant
from connector.serialization import from_json

if TYPE_CHECKING:
    from connector.adapters import ChannelAdapter
    from connector.conversation.intents import ChatContext

_BUYABLE = frozenset({model.Availability.IN_STOCK, model.Availability.PREORDER, model.Availability.AVAILABLE_FOR_ORDER})
MAX_RESULTS = 300
#: Cards of a WhatsApp product carousel (platform-changes-2026.md §7).
CAROUSEL_CARDS = (2, 10)


@dataclass(frozen=True, slots=True)
class Offer:
    """A variant as the chat offers it."""

    variant: model.Variant
    sold_out: bool

    @property
    def id(self) -> str:
        return self.variant.external_id


def is_sold_out(variant: model.Variant) -> bool:
    """Sold out: not buyable, or a tracked stock of zero."""
    return variant.availability not in _BUYABLE or variant.stock_quantity == 0


def catalog_id(ctx: ChatContext) -> str | None:
    """The Meta catalog the channel shows (WhatsApp product lists need it), or ``None``."""
    publisher = ctx.runtime.connections.channel_adapter(ctx.channel_connection_id).catalog()
    return publisher.catalog_id if publisher is not None else None


def _catalog_channel(ctx: ChatContext, wanted: str) -> int | None:
    for target in ctx.runtime.connections.catalog_targets(ctx.shop_connection_id):
        if target.publisher.catalog_id == wanted:
            return target.channel_connection_id
    return None


def offers(ctx: ChatContext, *, collection: str | None = None, query: str | None = None) -> list[Offer]:
    """Listed variants of the shop, filtered by collection or search words, available ones first.

    On WhatsApp only variants the catalog holds are returned (a product list cannot show others)."""
    clauses = [ShopVariant.shop_connection_id == ctx.shop_connection_id, ShopVariant.listed.is_(True)]
    for word in (query or "").casefold().split()[:5]:
        like = f"%{word}%"
        clauses.append(
            func.lower(ShopVariant.title).like(like) | func.lower(func.coalesce(ShopVariant.sku, "")).like(like)
        )
    stmt = select(ShopVariant).where(and_(*clauses)).order_by(ShopVariant.title, ShopVariant.id)
    catalog = catalog_id(ctx) if ctx.channel == "whatsapp" else None
    if catalog is not None:
        owner = _catalog_channel(ctx, catalog)
        if owner is None:
            return []
        stmt = stmt.join(
            CatalogItem,
            and_(
                CatalogItem.shop_variant_id == ShopVariant.id,
                CatalogItem.channel_connection_id == owner,
                CatalogItem.status.in_(("synced", "pending")),
            ),
        )
    with ctx.runtime.db.session() as session:
        rows = list(session.scalars(stmt.limit(MAX_RESULTS * 4 if collection else MAX_RESULTS)))
    found: list[Offer] = []
    for row in rows:
        variant = from_json(row.data)
        if collection is not None and collection not in variant.collections:
            continue
        found.append(Offer(variant, is_sold_out(variant)))
    found.sort(key=lambda o: o.sold_out)  # stable: titles stay in order within each group
    return found[:MAX_RESULTS]


def collections(ctx: ChatContext) -> list[str]:
    """Collection names of the listed variants, alphabetically."""
    names: set[str] = set()
    data: dict[str, Any]
    with ctx.runtime.db.session() as session:
        for data in session.scalars(
            select(ShopVariant.data).where(
                ShopVariant.shop_connection_id == ctx.shop_connection_id, ShopVariant.listed.is_(True)
            )
        ):
            names.update(data.get("collections") or [])
    return sorted(names)


def browse(ctx: ChatContext, page: int = 0) -> list[model.Outbound]:
    """The collections as a list (paged), or every product when the shop has no collections."""
    names = collections(ctx)
    if not names:
        return products(ctx, ctx.t("all_products"), offers(ctx), page=0, more_id="all")
    per_page = ctx.runtime.config.chat.rows_per_page
    chunk = names[page * per_page : (page + 1) * per_page]
    rows = [model.ListRow(f"col:0:{name}", short(name), short(name, 72) if len(name) > 20 else "") for name in chunk]
    if (page + 1) * per_page < len(names):
        rows.append(model.ListRow(f"cols:{page + 1}", ctx.t("more"), ctx.t("more_desc")))
    body = ctx.t("collections_body")
    return [
        model.ListMessage(body=body, button=short(ctx.t("collections_button")), sections=[model.ListSection("-", rows)])
    ]


def products(ctx: ChatContext, title: str, found: list[Offer], *, page: int, more_id: str) -> list[model.Outbound]:
    """One page of ``found``: a product list (WhatsApp with a catalog) then "notify me" choices for sold-out ones,
    product cards (Messenger, Instagram: sold-out cards carry their own "notify me"), or a pick list; then a
    "More" button when pages follow. ``more_id`` is the reply id prefix of the next page."""
    if not found:
        return menu(ctx, intro=ctx.t("no_products"))
    adapter = ctx.runtime.connections.channel_adapter(ctx.channel_connection_id)
    catalog = catalog_id(ctx) if ctx.channel == "whatsapp" else None
    cards = adapter.product_cards
    per_page = ctx.runtime.config.chat.products_per_page if catalog or cards else ctx.runtime.config.chat.rows_per_page
    pages = math.ceil(len(found) / per_page)
    page = min(page, pages - 1)
    chunk = found[page * per_page : (page + 1) * per_page]
    messages: list[model.Outbound] = []
    if catalog or cards:
        if cards:
            # Cards are drawn from the products' own data: no catalog needed (its id, if any, is only carried along).
            listing = _product_list(
                ctx, catalog_id(ctx) or "", title, chunk, count=len(found), page=page, pages=pages, cards=True
            )
            messages.append(adapter.present_products(listing, _offers_of(ctx, listing, chunk)))
        else:
            assert catalog is not None
            messages.extend(
                _catalog_products(ctx, adapter, catalog, title, chunk, count=len(found), page=page, pages=pages)
            )
        if page + 1 < pages:
            messages.append(
                model.ButtonsMessage(
                    body=ctx.t("next_page_body"), buttons=[model.Button(f"{more_id}:{page + 1}", short(ctx.t("more")))]
                )
            )
        return messages
    rows = [_pick_row(ctx, o) for o in chunk]
    if page + 1 < pages:
        rows.append(model.ListRow(f"{more_id}:{page + 1}", ctx.t("more"), ctx.t("more_desc")))
    body = ctx.t("products_pick_body", title=title, count=len(found), page=page + 1, pages=pages)
    return [
        model.ListMessage(body=body, button=short(ctx.t("products_button")), sections=[model.ListSection("-", rows)])
    ]


def _catalog_products(
    ctx: ChatContext,
    adapter: ChannelAdapter,
    catalog: str,
    title: str,
    chunk: list[Offer],
    *,
    count: int,
    page: int,
    pages: int,
) -> list[model.Outbound]:
    """One page of products from the WhatsApp catalog, in as few messages as the channel allows: 2-10 products in
    stock as a product carousel, more as a product list (with its "sold out" section); sold-out ones are named in
    the same message's text (the customer asks to be told in their own words, :mod:`connector.conversation.understand`)
    unless nothing else is left to show."""
    available = [o for o in chunk if not o.sold_out]
    sold_out = [o for o in chunk if o.sold_out]
    if not available:
        return [_notify_choices(ctx, sold_out)]
    extra: list[model.Outbound] = []
    note = ""
    if sold_out and ctx.free_until() is not None:
        # Inside a free entry-point window a second message costs nothing: the "notify me" choices get their buttons.
        extra.append(_notify_choices(ctx, sold_out))
    elif sold_out:
        note = "\n\n" + ctx.t("products_sold_out_note", titles=", ".join(o.variant.title for o in sold_out[:10]))
    low, high = CAROUSEL_CARDS
    carousel = ctx.runtime.config.chat.carousels and model.ProductCarouselMessage in adapter.supports
    if carousel and low <= len(available) <= high:
        body = ctx.t("carousel_body", title=title, count=count) + note
        ids = [o.id for o in available]
        return [model.ProductCarouselMessage(catalog_id=catalog, body=body, retailer_ids=ids), *extra]
    listing = _product_list(ctx, catalog, title, chunk, count=count, page=page, pages=pages)
    return [dataclasses.replace(listing, body=listing.body + note), *extra]


def _pick_row(ctx: ChatContext, offer: Offer) -> model.ListRow:
    price = ctx.money(offer.variant.effective_price)
    if offer.sold_out:
        return model.ListRow(
            f"notify:{offer.id}", short(f"🔔 {offer.variant.title}"), short(f"{ctx.t('sold_out_mark')} · {price}", 72)
        )
    return model.ListRow(f"add:{offer.id}", short(offer.variant.title), short(f"{offer.variant.title} · {price}", 72))


def _product_list(
    ctx: ChatContext,
    catalog: str,
    title: str,
    chunk: list[Offer],
    *,
    count: int,
    page: int,
    pages: int,
    cards: bool = False,
) -> model.ProductListMessage:
    available = [o.id for o in chunk if not o.sold_out]
    sold_out = [o.id for o in chunk if o.sold_out]
    sections = []
    if available:
        sections.append(model.ProductSection(short(ctx.t("section_available"), 24), available))
    if sold_out:
        sections.append(model.ProductSection(short(ctx.t("section_sold_out"), 24), sold_out))
    if cards:
        body = ctx.t(
            "products_cards_body",
            count=count,
            page=page + 1,
            pages=pages,
            buy=short(ctx.t("buy_button")),
            notify=short(ctx.t("notify_button")),
        )
    else:
        body = ctx.t("products_body", count=count, page=page + 1, pages=pages)
    return model.ProductListMessage(catalog_id=catalog, header=short(title, 60), body=body, sections=sections)


def _offers_of(ctx: ChatContext, listing: model.ProductListMessage, chunk: list[Offer]) -> list[ProductOffer]:
    """What a card shows and does for each product of ``listing``, in its order: "Buy" (``add:<id>``, the same
    reply as a pick-list row) or, sold out, "Notify me" (``notify:<id>``) with the mark before the price."""
    by_id = {o.id: o for o in chunk}
    buy, notify = short(ctx.t("buy_button")), short(ctx.t("notify_button"))
    view, mark = short(ctx.t("view_button")), ctx.t("sold_out_mark")
    result: list[ProductOffer] = []
    for section in listing.sections:
        for variant_id in section.retailer_ids:
            offer = by_id[variant_id]
            price = ctx.money(offer.variant.effective_price)
            if offer.sold_out:
                action = model.Button(f"notify:{offer.id}", notify)
                result.append(
                    ProductOffer(offer.variant, action, sold_out=True, note=mark, view_title=view, price_text=price)
                )
            else:
                action = model.Button(f"add:{offer.id}", buy)
                result.append(ProductOffer(offer.variant, action, view_title=view, price_text=price))
    return result


def _notify_choices(ctx: ChatContext, sold_out: list[Offer]) -> model.Outbound:
    titles = ", ".join(o.variant.title for o in sold_out[:10])
    body = ctx.t("sold_out_body", titles=titles)
    if len(sold_out) == 1:
        return model.ButtonsMessage(
            body=body, buttons=[model.Button(f"notify:{sold_out[0].id}", short(ctx.t("notify_button")))]
        )
    rows = [model.ListRow(f"notify:{o.id}", short(o.variant.title), short(o.variant.title, 72)) for o in sold_out]
    return model.ListMessage(body=body, button=short(ctx.t("notify_button")), sections=[model.ListSection("-", rows)])


def offer(ctx: ChatContext, external_id: str) -> Offer | None:
    """The listed variant ``external_id`` of this shop as the chat offers it, or ``None`` (unknown, or unlisted)."""
    with ctx.runtime.db.session() as session:
        data = session.scalar(
            select(ShopVariant.data).where(
                ShopVariant.shop_connection_id == ctx.shop_connection_id,
                ShopVariant.external_id == external_id,
                ShopVariant.listed.is_(True),
            )
        )
    if not data:
        return None
    found = from_json(data)
    return Offer(found, is_sold_out(found))


def _in_catalog(ctx: ChatContext, catalog: str, variant_id: str) -> bool:
    """Whether the channel's catalog holds ``variant_id`` (a single product message names nothing else)."""
    owner = _catalog_channel(ctx, catalog)
    if owner is None:
        return False
    with ctx.runtime.db.session() as session:
        return (
            session.scalar(
                select(CatalogItem.id)
                .join(ShopVariant, ShopVariant.id == CatalogItem.shop_variant_id)
                .where(
                    CatalogItem.channel_connection_id == owner,
                    CatalogItem.status.in_(("synced", "pending")),
                    ShopVariant.shop_connection_id == ctx.shop_connection_id,
                    ShopVariant.external_id == variant_id,
                )
            )
            is not None
        )


def product(ctx: ChatContext, found: Offer) -> list[model.Outbound]:
    """The one product a customer asked about, with what they can do: "Buy" (``add:<id>``) or, sold out,
    "notify me" (``notify:<id>``).

    Messenger and Instagram get a card (a one-product list through ``present_products``); WhatsApp the single
    product message when the catalog holds it, then the choice as a reply button; other channels the choice alone,
    with the title and price in its text."""
    adapter = ctx.runtime.connections.channel_adapter(ctx.channel_connection_id)
    title, price = found.variant.title, ctx.money(found.variant.effective_price)
    buy, notify = short(ctx.t("buy_button")), short(ctx.t("notify_button"))
    if adapter.product_cards:
        section = ctx.t("section_sold_out" if found.sold_out else "section_available")
        listing = model.ProductListMessage(
            catalog_id=catalog_id(ctx) or "",
            header=short(title, 60),
            body=ctx.t("product_card_body", title=title, sold_out=found.sold_out, buy=buy, notify=notify),
            sections=[model.ProductSection(short(section, 24), [found.id])],
        )
        return [adapter.present_products(listing, _offers_of(ctx, listing, [found]))]
    messages: list[model.Outbound] = []
    catalog = catalog_id(ctx) if ctx.channel == "whatsapp" else None
    if catalog and _in_catalog(ctx, catalog, found.id):
        messages.append(model.ProductMessage(catalog, found.id, body=ctx.t("product_body", title=title)))
    if found.sold_out:
        messages.append(_notify_choices(ctx, [found]))
    else:
        body = ctx.t("product_buy_body", title=title, price=price, buy=buy)
        messages.append(model.ButtonsMessage(body=body, buttons=[model.Button(f"add:{found.id}", buy)]))
    return messages


def variant(ctx: ChatContext, external_id: str) -> model.Variant | None:
    """The synced variant ``external_id`` of this shop, or ``None``."""
    with ctx.runtime.db.session() as session:
        data = session.scalar(
            select(ShopVariant.data).where(
                ShopVariant.shop_connection_id == ctx.shop_connection_id, ShopVariant.external_id == external_id
            )
        )
    return from_json(data) if data else None
