"""The commerce catalog endpoints: ``items_batch``, ``check_batch_request_status`` and ``products``."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from connector_meta.sandbox.errors import GraphError, invalid_parameter
from connector_meta.sandbox.state import Batch, Catalog, CatalogItem, GraphState, decode_cursor, encode_cursor

ITEM_TYPES = frozenset(
    {"PRODUCT_ITEM", "DESTINATION", "FLIGHT", "HOME_LISTING", "HOTEL", "HOTEL_ROOM", "VEHICLE", "VEHICLE_OFFER"}
)
METHODS = frozenset({"CREATE", "UPDATE", "DELETE"})
AVAILABILITY = frozenset({"in stock", "out of stock", "preorder", "available for order", "discontinued"})
CONDITIONS = frozenset({"new", "refurbished", "used"})
VISIBILITY = frozenset({"published", "hidden"})
#: Fields a CREATE (or an upserting UPDATE of an unknown item) must carry.
REQUIRED_ON_CREATE = ("title", "description", "availability", "price", "link", "image_link")
TEXT_LIMITS = {"title": 200, "description": 9999, "brand": 100}
PRICE = re.compile(r"^(\d{1,12})(\.\d{1,2})? ([A-Z]{3})$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)

#: ProductItem fields readable through ``GET /{catalog_id}/products`` and where they come from.
PRODUCT_FIELDS: dict[str, str | None] = {
    "id": None,
    "retailer_id": "id",
    "name": "title",
    "description": "description",
    "price": "price",
    "sale_price": "sale_price",
    "currency": None,
    "availability": "availability",
    "condition": "condition",
    "visibility": "visibility",
    "brand": "brand",
    "url": "link",
    "image_url": "image_link",
    "retailer_product_group_id": "item_group_id",
    "inventory": None,
    "color": "color",
    "size": "size",
    "gender": "gender",
    "material": "material",
    "pattern": "pattern",
    "gtin": "gtin",
    "mpn": "mpn",
    "product_type": "product_type",
    "google_product_category": "google_product_category",
    "additional_variant_attributes": "additional_variant_attribute",
}
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise invalid_parameter(f"Param {name} must be a boolean")


def parse_requests(raw: Any) -> list[dict[str, Any]]:
    """``requests`` arrives as a JSON array or as a string holding one (form field / query)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise invalid_parameter("Param requests must be a JSON array") from None
    if not isinstance(raw, list):
        raise invalid_parameter("Param requests must be an array")
    return raw


def _check_request(index: int, request: Any) -> tuple[str, dict[str, Any]]:
    """Whole-call validation of one request: a malformed one rejects the call, like Meta."""
    if not isinstance(request, dict):
        raise invalid_parameter(f"Param requests[{index}] must be an object")
    method = request.get("method")
    if method not in METHODS:
        raise invalid_parameter(f"Param requests[{index}][method] must be one of {{CREATE, UPDATE, DELETE}}")
    data = request.get("data")
    if not isinstance(data, dict):
        raise invalid_parameter(f"Param requests[{index}][data] must be an object")
    retailer_id = data.get("id")
    if not isinstance(retailer_id, str | int) or str(retailer_id).strip() == "":
        raise invalid_parameter(f"Param requests[{index}][data][id] is required")
    return method, data


def price_amount(value: str) -> tuple[str, str]:
    """``"12.5 EUR"`` -> (``"12.50"``, ``"EUR"``). Raises ``ValueError`` for anything else."""
    match = PRICE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(value)
    cents = (match.group(2) or ".00")[1:].ljust(2, "0")
    return f"{int(match.group(1))}.{cents}", match.group(3)


def item_problems(data: dict[str, Any], creating: bool) -> tuple[list[str], list[str]]:
    """Per-item validation: (errors, warnings) for one item's data, as ``validation_status`` reports them."""
    errors: list[str] = []
    warnings: list[str] = []
    if "retailer_id" in data:
        errors.append("retailer_id must not be part of data; the retailer id goes in data.id")
    if creating:
        errors.extend(f"Missing required field: {name}" for name in REQUIRED_ON_CREATE if not data.get(name))
        if not any(data.get(name) for name in ("gtin", "mpn", "brand")):
            warnings.append("Missing gtin, mpn or brand: matching to products on other sites will be limited")
    currencies = set()
    for name in ("price", "sale_price"):
        if data.get(name) in (None, "") and not (creating and name == "price"):
            continue
        if name in data:
            try:
                currencies.add(price_amount(data[name])[1])
            except ValueError:
                errors.append(f'Invalid {name} "{data[name]}": use "<amount> <ISO 4217 currency>", e.g. "12.50 EUR"')
    if len(currencies) > 1:
        errors.append("price and sale_price must use the same currency")
    for name, allowed in (("availability", AVAILABILITY), ("condition", CONDITIONS), ("visibility", VISIBILITY)):
        if name in data and data[name] not in allowed:
            errors.append(f'Invalid {name} "{data[name]}": must be one of {", ".join(sorted(allowed))}')
    for name in ("link", "image_link"):
        if data.get(name) and not (isinstance(data[name], str) and URL.match(data[name])):
            errors.append(f"Invalid {name}: must be an http(s) URL")
    for name, limit in TEXT_LIMITS.items():
        if isinstance(data.get(name), str) and len(data[name]) > limit:
            errors.append(f"{name} is longer than {limit} characters")
    if isinstance(data.get("description"), str) and re.search(r"<[a-zA-Z/][^>]*>", data["description"]):
        warnings.append("description contains HTML tags; they are shown as text")
    inventory = data.get("inventory", data.get("quantity_to_sell_on_facebook"))
    if inventory is not None and not (
        isinstance(inventory, int) and not isinstance(inventory, bool) and inventory >= 0
    ):
        errors.append("inventory must be a non-negative integer")
    return errors, warnings


def items_batch(state: GraphState, catalog: Catalog, params: dict[str, Any], body_size: int) -> dict[str, Any]:
    """Validate and apply one ``items_batch`` call; return Meta's answer ``{handles, validation_status}``."""
    options = state.options
    if body_size > options.max_payload_bytes:
        raise GraphError(
            1,
            "Please reduce the amount of data you're asking for, then retry your request",
            details=f"Request body of {body_size} bytes exceeds {options.max_payload_bytes} bytes",
        )
    item_type = params.get("item_type")
    if item_type is None:
        raise invalid_parameter("The parameter item_type is required")
    if item_type not in ITEM_TYPES:
        raise invalid_parameter(f"Param item_type must be one of {{{', '.join(sorted(ITEM_TYPES))}}}")
    if "requests" not in params:
        raise invalid_parameter("The parameter requests is required")
    requests = parse_requests(params["requests"])
    if not requests:
        raise invalid_parameter("Param requests must be a non-empty array")
    if len(requests) > options.max_batch_items:
        raise invalid_parameter(f"Param requests can have at most {options.max_batch_items} items per call")
    allow_upsert = parse_bool(params.get("allow_upsert", True), "allow_upsert")
    checked = [_check_request(i, r) for i, r in enumerate(requests)]

    with state.lock:
        if not state.catalog_rate.try_acquire(catalog.id, state.now(), options.catalog_calls_per_minute, 60.0):
            raise GraphError(
                80014,
                "There have been too many calls for this catalog batch API. Wait a bit and try again.",
                details=f"More than {options.catalog_calls_per_minute} items_batch calls in one minute",
            )
        catalog.write_calls += 1
        statuses: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        warnings: list[dict[str, Any]] = []
        invalid_ids: list[str] = []
        applied = 0
        accepted_then_failed = 0
        for method, data in checked:
            retailer_id = str(data["id"])
            exists = retailer_id in catalog.items
            item_errors: list[str] = []
            item_warnings: list[str] = []
            if method == "DELETE":
                if not catalog.delete(retailer_id):
                    item_warnings.append(f"Item {retailer_id} does not exist in the catalog; nothing to delete")
                else:
                    applied += 1
            elif method == "UPDATE" and not exists and not allow_upsert:
                item_errors.append(f"Item {retailer_id} does not exist and allow_upsert is false")
            else:
                creating = method == "CREATE" or not exists
                if method == "CREATE" and exists:
                    item_errors.append(f"Item {retailer_id} already exists; use UPDATE")
                else:
                    item_errors, item_warnings = item_problems(data, creating)
                failure = state.options.processing_errors.get(retailer_id)
                if not item_errors and failure is not None:
                    # Valid on arrival, refused while the batch is processed: only the batch status says so.
                    invalid_ids.append(retailer_id)
                    errors.append({"line": None, "id": retailer_id, "message": failure})
                    accepted_then_failed += 1
                    continue
                if not item_errors:
                    fields = {k: v for k, v in data.items() if k != "id"}
                    if creating:
                        fields.setdefault("condition", "new")
                        fields.setdefault("visibility", "published")
                    catalog.upsert(retailer_id, {"id": retailer_id, **fields}, state.new_fbid())
                    applied += 1
            if item_errors or item_warnings:
                statuses.append(
                    {
                        "retailer_id": retailer_id,
                        "errors": [{"message": m} for m in item_errors],
                        "warnings": [{"message": m} for m in item_warnings],
                    }
                )
            if item_errors:
                invalid_ids.append(retailer_id)
                errors.extend({"line": None, "id": retailer_id, "message": m} for m in item_errors)
            warnings.extend({"line": None, "id": retailer_id, "message": m} for m in item_warnings)
        handles: list[str] = []
        if applied or accepted_then_failed or not invalid_ids:
            handle = "AUj" + secrets.token_urlsafe(24)
            catalog.batches[handle] = Batch(handle, errors, warnings, invalid_ids)
            handles.append(handle)
    return {"handles": handles, "validation_status": statuses}


def batch_status(state: GraphState, catalog: Catalog, handle: str | None) -> dict[str, Any]:
    """Answer ``check_batch_request_status``: ``in progress`` for the first polls, then ``finished``."""
    if not handle:
        raise invalid_parameter("The parameter handle is required")
    with state.lock:
        batch = catalog.batches.get(handle)
        if batch is None:
            raise invalid_parameter(f"Invalid handle {handle}")
        batch.polls += 1
        finished = batch.polls > state.options.batch_polls_in_progress
        entry: dict[str, Any] = {"handle": handle, "status": "finished" if finished else "in progress"}
        if finished:
            entry.update(
                errors=batch.errors[:100],
                errors_total_count=len(batch.errors),
                warnings=batch.warnings[:100],
                warnings_total_count=len(batch.warnings),
                ids_of_invalid_requests=batch.invalid_ids,
            )
        else:
            entry.update(errors=[], errors_total_count=0, warnings=[], warnings_total_count=0)
    return {"data": [entry]}


def _product_view(catalog: Catalog, item: CatalogItem, wanted: list[str]) -> dict[str, Any]:
    data = item.data
    view: dict[str, Any] = {}
    for name in wanted:
        source = PRODUCT_FIELDS[name]
        if name == "id":
            view["id"] = item.fbid
        elif name == "currency":
            try:
                view["currency"] = price_amount(data.get("price", ""))[1]
            except ValueError:
                continue
        elif name == "inventory":
            value = data.get("inventory", data.get("quantity_to_sell_on_facebook"))
            if value is not None:
                view["inventory"] = value
        elif name in ("price", "sale_price"):
            if source is not None and data.get(source):
                amount, currency = price_amount(data[source])
                symbol = _SYMBOLS.get(currency)
                view[name] = f"{symbol}{amount}" if symbol else f"{amount} {currency}"
        elif source is not None and data.get(source) is not None:
            view[name] = data[source]
    view.setdefault("id", item.fbid)
    return view


def products(state: GraphState, catalog: Catalog, args: dict[str, str], base_url: str) -> dict[str, Any]:
    """``GET /{catalog_id}/products``: ``fields``, ``limit`` and ``after`` cursors, like Graph edges."""
    wanted = [f.strip() for f in args.get("fields", "id").split(",") if f.strip()] or ["id"]
    for name in wanted:
        if name not in PRODUCT_FIELDS:
            raise invalid_parameter(f"Tried accessing nonexisting field ({name}) on node type (ProductItem)")
    try:
        limit = int(args.get("limit", 25))
    except ValueError:
        raise invalid_parameter("Param limit must be an integer") from None
    limit = max(1, min(limit, 5000))
    after_seq = 0
    if args.get("after"):
        decoded = decode_cursor(args["after"])
        if decoded is None:
            raise invalid_parameter("Invalid cursor in param after")
        after_seq = decoded
    with state.lock:
        found, more = catalog.page(after_seq, limit)
        data = [_product_view(catalog, item, wanted) for item in found]
        seqs = [item.seq for item in found]
    answer: dict[str, Any] = {"data": data}
    if found:
        paging: dict[str, Any] = {"cursors": {"before": encode_cursor(seqs[0] - 1), "after": encode_cursor(seqs[-1])}}
        if more:
            query = {k: v for k, v in args.items() if k != "after"}
            query["after"] = encode_cursor(seqs[-1])
            query.setdefault("limit", str(limit))
            paging["next"] = f"{base_url}?" + "&".join(f"{k}={_quote(v)}" for k, v in query.items())
        answer["paging"] = paging
    return answer


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")
