"""Search, filter and paging parameters of the list pages (catalog, contacts, orders, messages), checked once.

A list page reads ``?q=<text>&shop=<id>&page=<n>``; anything else in them is a 400 with the reason (never a 500).
Paging fetches one row more than it shows, so "next page" appears only when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, request

PAGE_SIZE = 50
MAX_PAGE = 10_000
MAX_QUERY = 100


@dataclass(slots=True, frozen=True)
class Listing:
    """What a list page was asked for."""

    query: str
    shop_id: int | None
    page: int
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def like(self) -> str:
        """The query as a case-insensitive LIKE pattern (its own ``%`` and ``_`` taken literally)."""
        escaped = self.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments of this listing with ``changes`` (for the paging links)."""
        values: dict[str, Any] = {"q": self.query, "shop": self.shop_id, "page": self.page, **changes}
        if values["page"] == 1:
            del values["page"]
        return {k: v for k, v in values.items() if v not in (None, "")}


def listing() -> Listing:
    """The request's listing parameters, validated."""
    query = request.args.get("q", "").strip()
    if len(query) > MAX_QUERY:
        abort(400, description=f"q is longer than {MAX_QUERY} characters")
    shop = request.args.get("shop", "")
    if shop and not shop.isdigit():
        abort(400, description="shop must be a shop's number")
    page = request.args.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        abort(400, description=f"page must be a number from 1 to {MAX_PAGE}")
    return Listing(query, int(shop) if shop else None, int(page))


@dataclass(slots=True)
class Page:
    """One page of rows, and whether there are more."""

    rows: list[Any]
    listing: Listing
    has_next: bool


def cut(rows: list[Any], asked: Listing) -> Page:
    """``rows`` read with ``limit(size + 1)`` as a page."""
    return Page(rows[: asked.size], asked, len(rows) > asked.size)
