"""Product names and images for the ids the dashboard would otherwise show (cart lines, subscriptions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, tuple_

from connector.dashboard.templating import is_web_url
from connector.db.models import ShopVariant

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(slots=True, frozen=True)
class ProductName:
    """What a person recognises a variant by: its title, an image (a web URL or ``None``) and the shop's id."""

    external_id: str
    title: str
    image_url: str | None


def names(session: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], ProductName]:
    """``(shop connection id, variant external id) -> ProductName`` for the synced variants among ``keys``."""
    if not keys:
        return {}
    found: dict[tuple[int, str], ProductName] = {}
    wanted = sorted(keys)
    for start in range(0, len(wanted), 500):  # bounded IN lists
        rows: list[Any] = list(
            session.execute(
                select(
                    ShopVariant.shop_connection_id, ShopVariant.external_id, ShopVariant.title, ShopVariant.data
                ).where(
                    tuple_(ShopVariant.shop_connection_id, ShopVariant.external_id).in_(wanted[start : start + 500])
                )
            )
        )
        for shop_id, external_id, title, data in rows:
            image = (data or {}).get("image_url")
            found[(shop_id, external_id)] = ProductName(external_id, title, image if is_web_url(image) else None)
    return found


def name_of(found: dict[tuple[int, str], ProductName], shop_id: int | None, external_id: str) -> ProductName:
    """The variant's name, or its id when it is not synced (any more)."""
    return found.get((shop_id or 0, external_id)) or ProductName(external_id, external_id, None)
