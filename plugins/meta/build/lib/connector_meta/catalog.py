"""Publishing to a Meta commerce catalog (the one behind WhatsApp, Instagram and Facebook shops).

* :func:`catalog_fields` maps a canonical :class:`~connector.model.Variant` to Meta's feed-style item
  fields; the core sync engine calls it to build :class:`~connector.adapters.CatalogPush` requests.
* :class:`MetaCatalog` pushes them with ``POST /{catalog_id}/items_batch`` (``item_type=PRODUCT_ITEM``,
  ``allow_upsert``, ``UPDATE``/``DELETE`` with ``data.id`` = retailer id), polls
  ``check_batch_request_status``, and reads the catalog back from ``/{catalog_id}/products``.

Facts (meta-catalog.md §2-3): up to 5,000 items per call (< 3,000 recommended), body ≤ 28 MB (error
code 1 otherwise), ~8 calls/minute for a catalog without traffic (error 80014), empty ``handles`` means
nothing was ingested, per-item problems come back in ``validation_status``.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from connector_meta.graph import GraphClient, graph_error

from connector import model
from connector.adapters import BatchResult, BatchStatus, CatalogPublisher, CatalogPush
from connector.errors import ConfigError, PlatformError

log = logging.getLogger(__name__)

#: Meta's hard limit of requests per ``items_batch`` call.
META_MAX_BATCH_SIZE = 5000
#: Meta's payload limit for one call; bigger batches are split before sending.
META_MAX_PAYLOAD_BYTES = 28 * 1024 * 1024
#: Several handles from one split push are joined with this into the single handle the core stores.
HANDLE_SEPARATOR = " "
#: ``check_batch_request_status`` values meaning "still working"; every other value is terminal.
IN_PROGRESS_STATUSES = frozenset({"in progress", "started", "dispatched", "pending", "processing"})
#: Fields :meth:`MetaCatalog.iter_items` asks for.
READ_FIELDS = ",".join(
    (
        "retailer_id",
        "name",
        "price",
        "sale_price",
        "currency",
        "availability",
        "inventory",
        "retailer_product_group_id",
        "url",
        "image_url",
        "visibility",
    )
)

# Variant option names Meta has dedicated fields for; anything else goes to additional_variant_attribute.
_VARIANT_FIELDS = {
    "size": "size",
    "color": "color",
    "colour": "color",
    "farbe": "color",
    "größe": "size",
    "groesse": "size",
    "gender": "gender",
    "age_group": "age_group",
    "material": "material",
    "pattern": "pattern",
}
_TAG = re.compile(r"<[^>]+>")
_PRICE = re.compile(r"^\d{1,12}(\.\d{1,2})? [A-Z]{3}$")
_URL = re.compile(r"^https?://[^\s/$.?#]\S*$", re.IGNORECASE)

#: Fields Meta needs to create a PRODUCT_ITEM (an upserting UPDATE of a new item is a create).
REQUIRED_FIELDS = ("title", "description", "availability", "price", "link", "image_link")
#: Text limits of Meta's product spec (title 200, description 9,999, brand 100). FB4WC cuts tighter
#: (150/5,000/100); Meta's hard limits are UNCONFIRMED (meta-catalog.md §2), so they are module constants.
TEXT_LIMITS = {"title": 200, "description": 9999, "brand": 100}
_ALLOWED = {
    "availability": frozenset(a.value for a in model.Availability),
    "condition": frozenset({"new", "refurbished", "used"}),
    "visibility": frozenset({"published", "hidden"}),
}


# --------------------------------------------------------------------------- mapping


def meta_price(money: model.Money) -> str:
    """Meta's price string: ``"12.50 EUR"``."""
    return f"{money.amount:.2f} {money.currency}"


def plain_text(text: str) -> str:
    """Meta rejects HTML in ``description``: drop tags, unescape entities, collapse whitespace."""
    return " ".join(html.unescape(_TAG.sub(" ", text or "")).split())


def catalog_fields(variant: model.Variant) -> dict[str, Any]:
    """Meta item fields for one variant (everything but ``id``, which :meth:`MetaCatalog.push` adds).

    Sold-out variants keep every field and say ``availability: "out of stock"``; unpublished ones are
    sent with ``visibility: "hidden"`` so they leave the shop without losing their history.
    """
    description = plain_text(variant.description) or variant.title
    fields: dict[str, Any] = {
        "title": variant.title,
        "description": description,
        "availability": variant.availability.value,
        "condition": variant.condition or "new",
        "price": meta_price(variant.price),
        "item_group_id": variant.group_id or variant.product_external_id,
        "visibility": "published" if variant.published else "hidden",
    }
    if variant.link:
        fields["link"] = variant.link
    if variant.image_url:
        fields["image_link"] = variant.image_url
    if variant.additional_image_urls:
        fields["additional_image_link"] = list(variant.additional_image_urls)
    if variant.brand:
        fields["brand"] = variant.brand
    if variant.gtin:
        fields["gtin"] = variant.gtin
    if variant.sale_price is not None and variant.sale_price.amount < variant.price.amount:
        fields["sale_price"] = meta_price(variant.sale_price)
    if variant.stock_quantity is not None:
        fields["inventory"] = max(0, variant.stock_quantity)
    if variant.collections:
        fields["product_type"] = variant.collections[0]
    extra: list[str] = []
    for name, value in variant.attributes.items():
        if value in (None, ""):
            continue
        meta_name = _VARIANT_FIELDS.get(name.strip().lower())
        if meta_name and meta_name not in fields:
            fields[meta_name] = str(value)
        else:
            # ':' and ',' separate pairs in Meta's "key:value,key:value" format.
            extra.append(f"{name.replace(':', ' ').replace(',', ' ')}:{str(value).replace(',', ' ')}")
    if extra:
        fields["additional_variant_attribute"] = ",".join(extra)
    return fields


def item_problems(fields: Mapping[str, Any]) -> list[str]:
    """Why Meta would refuse these item fields, found before sending (empty when the item is fine)."""
    problems = [f"missing {name}" for name in REQUIRED_FIELDS if not fields.get(name)]
    for name in ("price", "sale_price"):
        value = fields.get(name)
        if value and not (isinstance(value, str) and _PRICE.match(value)):
            problems.append(f'{name} {value!r} is not "<amount> <ISO currency>" such as "12.50 EUR"')
    price, sale_price = str(fields.get("price") or ""), str(fields.get("sale_price") or "")
    if price and sale_price and price[-3:] != sale_price[-3:]:
        problems.append("price and sale_price use different currencies")
    for name, allowed in _ALLOWED.items():
        if name in fields and fields[name] not in allowed:
            problems.append(f"{name} {fields[name]!r} must be one of {', '.join(sorted(allowed))}")
    for name in ("link", "image_link"):
        if fields.get(name) and not _URL.match(str(fields[name])):
            problems.append(f"{name} must be an http(s) URL, got {fields[name]!r}")
    for name, limit in TEXT_LIMITS.items():
        if isinstance(fields.get(name), str) and len(fields[name]) > limit:
            problems.append(f"{name} is {len(fields[name])} characters, Meta allows {limit}")
    inventory = fields.get("inventory")
    if inventory is not None and (not isinstance(inventory, int) or isinstance(inventory, bool) or inventory < 0):
        problems.append("inventory must be a whole number of at least 0")
    return problems


def parse_meta_price(value: Any, currency: str | None = None) -> model.Money | None:
    """Read a price the Graph API returns: ``"12.50 EUR"``, ``"€12.50"``, ``"1,234.50 EUR"``, or minor units
    (an int) with a separate ``currency``. Returns ``None`` when it cannot be read."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and currency:
        return model.Money(Decimal(value) / 100, currency)
    text = str(value).strip()
    code = re.search(r"\b([A-Z]{3})\b", text)
    currency = code.group(1) if code else currency
    number = re.sub(r"[^0-9.,]", "", text)
    if "," in number and "." in number:
        number = (
            number.replace(",", "")
            if number.rfind(".") > number.rfind(",")
            else number.replace(".", "").replace(",", ".")
        )
    elif "," in number:
        number = number.replace(",", ".")
    if not currency or not number:
        return None
    try:
        return model.Money(Decimal(number), currency)
    except (InvalidOperation, ValueError):
        return None


def item_from_graph(data: Mapping[str, Any]) -> model.CatalogItem:
    """A :class:`~connector.model.CatalogItem` from one ``/{catalog_id}/products`` object."""
    currency = data.get("currency")
    availability = data.get("availability")
    try:
        parsed_availability = model.Availability(availability) if availability else None
    except ValueError:
        parsed_availability = None
    inventory = data.get("inventory")
    return model.CatalogItem(
        retailer_id=str(data.get("retailer_id") or data.get("id") or ""),
        title=str(data.get("name") or data.get("title") or ""),
        price=parse_meta_price(data.get("price"), currency),
        availability=parsed_availability,
        item_group_id=data.get("retailer_product_group_id") or data.get("item_group_id"),
        sale_price=parse_meta_price(data.get("sale_price"), currency),
        inventory=int(inventory) if isinstance(inventory, int | str) and str(inventory).lstrip("-").isdigit() else None,
        link=data.get("url") or data.get("link"),
        image_link=data.get("image_url") or data.get("image_link"),
        visibility=data.get("visibility"),
    )


# --------------------------------------------------------------------------- publisher


def _compact(value: Any) -> bytes:
    """The exact bytes sent: compact UTF-8 JSON, so size estimates match what Meta measures."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class MetaCatalog(CatalogPublisher):
    """One Meta catalog, reached through a :class:`~connector_meta.graph.GraphClient`.

    :param max_batch_size: requests per ``items_batch`` call, at most Meta's 5,000 (the default, so a
        10,000-variant catalog takes two calls). Lower it to Meta's recommended < 3,000 if pushes time out.
    :param page_size: objects per page when reading the catalog back.
    :param allow_upsert: let ``UPDATE`` create missing items (Meta's default).
    """

    max_batch_size: int = META_MAX_BATCH_SIZE  # type: ignore[misc]

    def __init__(
        self,
        graph: GraphClient,
        catalog_id: str,
        *,
        max_batch_size: int | None = None,
        page_size: int = 500,
        allow_upsert: bool = True,
        max_payload_bytes: int = META_MAX_PAYLOAD_BYTES,
    ):
        if not catalog_id:
            raise ConfigError("catalog_id: a Meta catalog id is required")
        if max_batch_size is not None:
            if not 1 <= max_batch_size <= META_MAX_BATCH_SIZE:
                raise ConfigError(f"max_batch_size: must be between 1 and {META_MAX_BATCH_SIZE}, got {max_batch_size}")
            self.max_batch_size = max_batch_size
        self.graph = graph
        self._catalog_id = str(catalog_id)
        self.page_size = page_size
        self.allow_upsert = allow_upsert
        self.max_payload_bytes = max_payload_bytes

    @property
    def catalog_id(self) -> str:
        return self._catalog_id

    # ----------------------------------------------------------------- mapping

    def item_fields(self, variant: model.Variant) -> dict[str, Any]:
        """Meta's item fields for ``variant`` (see :func:`catalog_fields`)."""
        return catalog_fields(variant)

    def validate_item(self, fields: Mapping[str, Any]) -> list[str]:
        """Problems that make Meta refuse the item: missing image or link, malformed price, too-long title..."""
        return item_problems(fields)

    # ----------------------------------------------------------------- push

    @staticmethod
    def render_request(push: CatalogPush) -> dict[str, Any]:
        """One entry of ``requests``: ``{"method": ..., "data": {"id": <retailer id>, ...}}``.

        The retailer id goes in ``data.id``; ``retailer_id`` must not appear in ``data`` (FB4WC)."""
        method = push.method.upper()
        if method not in ("UPDATE", "DELETE", "CREATE"):
            raise ValueError(f"unknown catalog method {push.method!r} for {push.retailer_id!r}")
        data: dict[str, Any] = {"id": push.retailer_id}
        if method != "DELETE":
            data.update({k: v for k, v in push.fields.items() if k not in ("id", "retailer_id")})
        return {"method": method, "data": data}

    def push(self, requests: Sequence[CatalogPush]) -> BatchResult:
        """Send up to :attr:`max_batch_size` upserts/deletes. Returns the batch handle to poll (``None`` when Meta
        ingested nothing) and per-item validation errors by retailer id.

        A body over 28 MB is split into several calls first; their handles are joined into one handle
        that :meth:`batch_status` understands."""
        if len(requests) > self.max_batch_size:
            raise ValueError(f"{len(requests)} catalog requests exceed max_batch_size {self.max_batch_size}")
        if not requests:
            return BatchResult(handle=None)
        rendered = [self.render_request(r) for r in requests]
        handles: list[str] = []
        item_errors: dict[str, list[str]] = {}
        for chunk in self._split_by_size(rendered):
            self._send(chunk, handles, item_errors)
        return BatchResult(handle=HANDLE_SEPARATOR.join(handles) or None, item_errors=item_errors)

    def _split_by_size(self, rendered: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        chunk: list[dict[str, Any]] = []
        size = 0
        for entry in rendered:
            entry_size = len(_compact(entry)) + 1  # + the comma between entries
            if chunk and size + entry_size > self.max_payload_bytes - 1024:
                yield chunk
                chunk, size = [], 0
            chunk.append(entry)
            size += entry_size
        if chunk:
            yield chunk

    def _send(self, chunk: list[dict[str, Any]], handles: list[str], item_errors: dict[str, list[str]]) -> None:
        body = _compact({"item_type": "PRODUCT_ITEM", "allow_upsert": self.allow_upsert, "requests": chunk})
        try:
            # UPDATE/DELETE by retailer id are idempotent, so a 5xx may safely be retried.
            answer = self.graph.post_json(
                f"{self.catalog_id}/items_batch",
                data=body,
                headers={"Content-Type": "application/json"},
                idempotent=True,
            )
        except PlatformError as exc:
            info = graph_error(exc)
            if info is not None and info.code == 1 and len(chunk) > 1:  # "reduce the amount of data": split
                half = len(chunk) // 2
                self._send(chunk[:half], handles, item_errors)
                self._send(chunk[half:], handles, item_errors)
                return
            raise
        handles.extend(str(h) for h in answer.get("handles") or [] if h)
        for status in answer.get("validation_status") or []:
            messages = [str(e.get("message") or e) for e in status.get("errors") or []]
            if messages:
                item_errors.setdefault(str(status.get("retailer_id")), []).extend(messages)
            for warning in status.get("warnings") or []:
                log.info("catalog %s: warning for %s: %s", self.catalog_id, status.get("retailer_id"), warning)

    # ----------------------------------------------------------------- status

    def batch_status(self, handle: str) -> BatchStatus:
        """Poll ``check_batch_request_status`` for every handle in ``handle``; finished once all are."""
        finished = True
        statuses: list[str] = []
        item_errors: dict[str, list[str]] = {}
        for single in handle.split(HANDLE_SEPARATOR):
            answer = self.graph.get_json(f"{self.catalog_id}/check_batch_request_status", params={"handle": single})
            data = answer.get("data", answer)
            entries = data if isinstance(data, list) else [data]
            for entry in entries:
                status = str(entry.get("status") or "unknown")
                statuses.append(status)
                if status.strip().lower().replace("_", " ") in IN_PROGRESS_STATUSES:
                    finished = False
                for error in entry.get("errors") or []:
                    retailer_id = str(error.get("id") or error.get("retailer_id") or "")
                    item_errors.setdefault(retailer_id, []).append(str(error.get("message") or error))
                for retailer_id in entry.get("ids_of_invalid_requests") or []:
                    item_errors.setdefault(str(retailer_id), [])
        # Invalid ids without a sampled message still deserve a reason the owner can read.
        for messages in item_errors.values():
            if not messages:
                messages.append("Meta rejected this item (no message in the sampled errors)")
        overall = statuses[0] if len(set(statuses)) == 1 else ",".join(statuses)
        return BatchStatus(finished=finished, status=overall, item_errors=item_errors)

    # ----------------------------------------------------------------- read back

    def iter_items(self) -> Iterator[model.CatalogItem]:
        """Every item in the catalog, one Graph page at a time."""
        for data in self.graph.iter_pages(
            f"{self.catalog_id}/products", params={"fields": READ_FIELDS}, limit=self.page_size
        ):
            yield item_from_graph(data)
