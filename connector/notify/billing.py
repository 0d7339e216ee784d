"""What Meta says a message cost, next to what we estimated: the ``pricing`` of status webhooks stored on each
outbound message, template re-categorizations (``template_category_update``), and the per-day comparison the
dashboard and ``/api/v1/notifications/costs`` show.

Meta's status webhooks name the pricing category, type and whether the message is billed, not an amount: the
reported cost is that category's price on the rate card in force the day the message was sent, for the
recipient's country, so a difference means a message was billed in another category (or free) than we thought.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector import model
from connector.db.models import OutboundMessage
from connector.db.models_pricing import TemplateCategoryChange
from connector.notify import pricing

if TYPE_CHECKING:
    from connector.notify.settings import NotifySettings

_OUTBOX = OutboundMessage.__table__
#: The columns a status's ``pricing`` fills, and the fields of Meta's object they come from.
_COLUMNS = {
    "billed_category": "category",
    "billed_type": "type",
    "billable": "billable",
    "pricing_model": "pricing_model",
}
#: Longest value each column holds (a longer one is not Meta's and is cut).
_WIDTHS = {"billed_category": 32, "billed_type": 32, "pricing_model": 16}


def billed_values(status: model.DeliveryStatus) -> dict[str, Any] | None:
    """The ``billed_*`` column values of a status's ``pricing`` object; ``None`` when it carries none."""
    found = status.pricing
    if not isinstance(found, dict) or not found:
        return None
    values: dict[str, Any] = {}
    for column, key in _COLUMNS.items():
        value = found.get(key)
        if column == "billable":
            values[column] = value if isinstance(value, bool) else None
        else:
            values[column] = str(value)[: _WIDTHS[column]] if isinstance(value, str | int) and value != "" else None
    return values if any(v is not None for v in values.values()) else None


def store_billed(session: Session, priced: dict[int, dict[str, Any]]) -> None:
    """Write the reported pricing of outbox rows (``row id -> billed values``): one UPDATE per distinct pricing,
    touching only rows whose stored pricing differs (every status of a message repeats it)."""
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for row_id, values in priced.items():
        groups[tuple(values[c] for c in _COLUMNS)].append(row_id)
    for key, ids in groups.items():
        values = {f"v_{column}": value for column, value in zip(_COLUMNS, key, strict=True)}
        session.execute(_STORE_BILLED, {"ids": ids, **values})


#: Built once (it runs for every status webhook that carries a pricing, in the webhook's write transaction).
_STORE_BILLED = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        or_(*(_OUTBOX.c[column].is_distinct_from(bindparam(f"v_{column}")) for column in _COLUMNS)),
    )
    .values(**{column: bindparam(f"v_{column}") for column in _COLUMNS})
)


# --------------------------------------------------------------------------- template re-categorization

_CATEGORY_AT = (
    select(TemplateCategoryChange.category)
    .where(
        TemplateCategoryChange.channel_connection_id == bindparam("channel_id"),
        TemplateCategoryChange.template_name == bindparam("name"),
        TemplateCategoryChange.language == bindparam("language"),
        TemplateCategoryChange.effective_at <= bindparam("at"),
    )
    .order_by(TemplateCategoryChange.effective_at.desc(), TemplateCategoryChange.id.desc())
    .limit(1)
)


def record_category_change(session: Session, channel_id: int, change: model.TemplateCategoryUpdate) -> bool:
    """Store a re-categorization (inside the caller's transaction); False when it was stored before."""
    try:
        with session.begin_nested():
            session.execute(
                insert(TemplateCategoryChange).values(
                    channel_connection_id=channel_id,
                    template_id=change.template_id[:64],
                    template_name=change.name[:512],
                    language=change.language[:16],
                    category=change.category[:32],
                    previous_category=(change.previous_category or None) and change.previous_category[:32],
                    effective_at=change.effective_at,
                    impending=change.impending,
                )
            )
    except IntegrityError:
        return False
    return True


def template_category(session: Session, channel_id: int, name: str, language: str, at: datetime) -> str | None:
    """The category Meta gave template ``name`` in ``language`` as of ``at``; ``None`` when it never changed it."""
    found = session.scalar(_CATEGORY_AT, {"channel_id": channel_id, "name": name, "language": language, "at": at})
    return str(found) if found else None


# --------------------------------------------------------------------------- estimate vs reported, per day


@dataclass
class Day:
    """One UTC day's messages: what we estimated, what Meta's reported pricing costs, and how many differ."""

    day: str
    messages: int = 0
    estimate: float = 0.0
    #: Messages whose pricing Meta reported (a status webhook came with ``pricing``).
    reported_messages: int = 0
    reported: float = 0.0
    #: Messages Meta billed in another category than we estimated (``marketing_lite`` counts as ``marketing``).
    category_mismatches: int = 0
    by_category: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "messages": self.messages,
            "estimate": round(self.estimate, 6),
            "reported_messages": self.reported_messages,
            "reported": round(self.reported, 6),
            "difference": round(self.reported - self.estimate, 6),
            "category_mismatches": self.category_mismatches,
            "by_category": {
                name: {k: round(v, 6) if isinstance(v, float) else v for k, v in entry.items()}
                for name, entry in sorted(self.by_category.items())
            },
        }


#: Reported categories that correspond to our estimate's category.
_SAME = {"marketing_lite": "marketing", "authentication_international": "authentication"}


def daily(settings: NotifySettings, rows: list[Any]) -> list[Day]:
    """Per-day comparison of ``rows`` (``sent_at, category, country, cost, billed_category, billable``)."""
    days: dict[str, Day] = {}
    for sent_at, category, country, cost, billed_category, billable in rows:
        if sent_at is None:
            continue
        key = sent_at.date().isoformat()
        entry = days.get(key) or days.setdefault(key, Day(key))
        entry.messages += 1
        entry.estimate += cost or 0.0
        name = category or "unpriced"
        slot = entry.by_category.setdefault(name, {"messages": 0, "estimate": 0.0, "reported": 0.0})
        slot["messages"] += 1
        slot["estimate"] += cost or 0.0
        if billed_category is None and billable is None:
            continue
        reported = pricing.billed_cost(settings, billed_category, billable, country, sent_at)
        entry.reported_messages += 1
        entry.reported += reported
        slot["reported"] += reported
        other = bool(billed_category and category and _SAME.get(billed_category, billed_category) != category)
        # A free entry point we priced at nothing already is no mismatch.
        if other and (billed_category not in pricing.FREE_CATEGORIES or (cost or 0.0) > 0):
            entry.category_mismatches += 1
    return [days[key] for key in sorted(days)]
