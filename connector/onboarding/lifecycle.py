"""The platform changed the state of the connector's app in a shop (uninstalled, deactivated, activated, deleted):
keep the connection's state true and say why on the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import update

from connector.db.models import ShopConnection

if TYPE_CHECKING:
    from connector.runtime import Runtime


def note(what: str) -> str:
    """``what`` with today's date, as the dashboard shows it."""
    return f"{what} on {datetime.now(UTC):%Y-%m-%d}."


def set_state(rt: Runtime, shop_id: int, *, enabled: bool, note: str | None) -> None:
    """Enable or disable the shop connection; ``note`` (``None`` clears it) tells the owner why."""
    with rt.db.session() as session:
        session.execute(
            update(ShopConnection).where(ShopConnection.id == shop_id).values(enabled=enabled, status_note=note)
        )
    rt.connections.invalidate("shop", shop_id)
