"""The sandbox's Flask app: Shopware's Admin API and Store API, a minimal storefront, and ``/_sandbox/``.

Only the ``application/json`` flavour of the Admin API is served (what ``Accept: application/json``
gets on a real shop), with Shopware's error bodies: ``{"errors": [{"status", "code", "title", "detail"}]}``.
"""

from __future__ import annotations

import html
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from connector_shopware.sandbox import apps, checkout
from connector_shopware.sandbox.criteria import (
    CriteriaError,
    matches,
    page_window,
    sort_records,
    validate_filter,
    validate_sort,
)
from connector_shopware.sandbox.entities import ORDER_ASSOCIATIONS, PRODUCT_ASSOCIATIONS, iso, prune_order
from connector_shopware.sandbox.store import SHOPWARE_VERSION, ShopStore, StoreError
from flask import Flask, Response, request

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}
#: Events the control API's ``POST /_sandbox/webhooks`` subscribes a URL to (like installing the app manifest).
ALL_EVENTS = (
    "product.written",
    "product.deleted",
    "order.written",
    "checkout.order.placed",
    "state_enter.order.state.completed",
    "state_enter.order.state.cancelled",
    "state_enter.order_delivery.state.open",
    "state_enter.order_delivery.state.shipped",
    "state_enter.order_delivery.state.shipped_partially",
    "state_enter.order_delivery.state.returned",
    "state_enter.order_delivery.state.returned_partially",
    "state_enter.order_delivery.state.cancelled",
    "state_enter.order_transaction.state.paid",
    "app.deleted",
)


def error_response(
    status: int, code: str, detail: str, title: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    body = {
        "errors": [
            {"status": str(status), "code": code, "title": title or TITLES.get(status, "Error"), "detail": detail}
        ]
    }
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, default=str), status=status, mimetype="application/json", headers=headers)


def _body() -> dict[str, Any]:
    if not request.data:
        return {}
    try:
        body = json.loads(request.data)
    except ValueError as exc:
        raise StoreError(400, "FRAMEWORK__INVALID_REQUEST_PARAMETER", f"The JSON payload is malformed: {exc}") from None
    if not isinstance(body, dict):
        raise StoreError(400, "FRAMEWORK__INVALID_REQUEST_PARAMETER", "The JSON payload must be an object")
    return body


def _associations(body: dict[str, Any], allowed: frozenset[str], entity: str) -> dict[str, Any]:
    raw = body.get("associations") or {}
    if not isinstance(raw, dict):
        raise StoreError(400, "FRAMEWORK__INVALID_CRITERIA_IDS", "associations must be an object")
    unknown = set(raw) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise StoreError(
            400, "FRAMEWORK__ASSOCIATION_NOT_FOUND", f"Can not find association by name {name} in {entity}"
        )
    return raw


def _search(
    body: dict[str, Any], records: list[Any], resolve: Any, max_limit: int, *, presorted: bool = False
) -> tuple[list[Any], int]:
    """Apply ``ids``, ``filter``, ``sort`` and paging; return the page and the total for ``total-count-mode``."""
    offset, limit = page_window(body, max_limit)
    filters = body.get("filter") or []
    if not isinstance(filters, list):
        raise CriteriaError("filter must be a list", "FRAMEWORK__INVALID_FILTER_QUERY")
    for spec in filters:
        validate_filter(spec)
    sort = validate_sort(body)
    selected = records
    ids = body.get("ids")
    if ids is not None:
        wanted = set(ids.split("|") if isinstance(ids, str) else ids)
        selected = [r for r in selected if r["id"] in wanted]
    if filters:
        selected = [r for r in selected if all(matches(spec, r, resolve) for spec in filters)]
    if sort and not (presorted and sort == [("id", False)]):
        selected = sort_records(selected, sort, resolve)
    page = selected[offset : None if limit is None else offset + limit]
    mode = int(body.get("total-count-mode", 0) or 0)
    if mode == 1:
        total = len(selected)
    elif mode == 2 and limit is not None:
        total = offset + min(len(selected) - offset, limit * 5 + 1)
    else:
        total = len(page)
    return page, total


def create_app(store: ShopStore) -> Flask:
    """Build the Flask app around ``store``."""
    app = Flask("shopware-sandbox")
    max_limit = int(store.options.get("max_limit", 500))

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> Response:
        return error_response(exc.status, exc.code, exc.detail, exc.title)

    @app.errorhandler(CriteriaError)
    def _criteria_error(exc: CriteriaError) -> Response:
        return error_response(400, exc.code, str(exc))

    @app.errorhandler(404)
    def _not_found(_exc: Exception) -> Response:
        return error_response(
            404, "FRAMEWORK__ROUTE_NOT_FOUND", f'No route found for "{request.method} {request.path}"'
        )

    @app.errorhandler(405)
    def _not_allowed(_exc: Exception) -> Response:
        return error_response(
            405,
            "FRAMEWORK__METHOD_NOT_ALLOWED",
            f"Method {request.method} not allowed for {request.path}",
            "Method Not Allowed",
        )

    store.images.install(app, "/media/<path:name>")

    @app.before_request
    def _gate() -> Response | None:
        path = request.path
        if not path.startswith(("/api/", "/store-api/")):
            return None
        wait = store.throttle()
        if wait is not None:
            seconds = max(1, round(wait)) if wait >= 1 else wait
            return error_response(
                429,
                "FRAMEWORK__RATE_LIMIT_EXCEEDED",
                f"Too many requests, try again in {seconds} seconds.",
                headers={"Retry-After": f"{wait:.2f}"},
            )
        fault = store.take_fault()
        if fault is not None:
            return error_response(
                fault,
                "SANDBOX__INJECTED_FAULT",
                "The sandbox was told to fail this request.",
                TITLES.get(fault, "Server Error"),
            )
        if path.startswith("/api/") and path != "/api/oauth/token":
            store.check_token(request.headers.get("Authorization"))
        if path.startswith("/store-api/"):
            store.check_access_key(request.headers.get("sw-access-key"))
        return None

    # ------------------------------------------------------------------ Admin API

    app.register_blueprint(apps.blueprint(store))

    @app.post("/api/oauth/token")
    def oauth_token() -> Response:
        body = request.get_json(silent=True) or request.form.to_dict()
        if body.get("grant_type") != "client_credentials":
            return error_response(
                400,
                "2",
                "The authorization grant type is not supported by the authorization server.",
                "Unsupported grant type",
            )
        # league/oauth2-server (Shopware's OAuth server) reads HTTP Basic credentials as the defaults of the
        # client_id / client_secret body parameters (RFC 6749 §2.3.1), so clients may send either.
        basic = request.authorization if request.authorization and request.authorization.type == "basic" else None
        client_id = body.get("client_id") or (basic.username if basic else None)
        client_secret = body.get("client_secret") or (basic.password if basic else None)
        if not client_id or not client_secret:
            return error_response(
                400, "3", "The request is missing a required parameter: client_id / client_secret", "Invalid request"
            )
        token, ttl = store.issue_token(str(client_id), str(client_secret))
        return _json({"token_type": "Bearer", "expires_in": ttl, "access_token": token})

    @app.get("/api/_info/version")
    def info_version() -> Response:
        return _json({"version": SHOPWARE_VERSION})

    @app.post("/api/search/product")
    def search_product() -> Response:
        body = _body()
        associations = _associations(body, PRODUCT_ASSOCIATIONS, "product")
        inherit = request.headers.get("sw-inheritance") in ("1", "true")
        key = json.dumps(associations, sort_keys=True)
        with store.lock:
            # The id-sorted list is kept up to date, so the common case pages without sorting; indexes narrow
            # the records a filter can match, and each product's JSON is cached until it changes.
            records = store.search_products(body)
            page, total = _search(body, records, store.resolve_product, max_limit, presorted=True)
            data = ", ".join(
                store.product_json_text(r, inherit=inherit, associations=associations, key=key) for r in page
            )
        # The same text as json.dumps({"total": ..., "data": [...], "aggregations": []}).
        text = f'{{"total": {json.dumps(total)}, "data": [{data}], "aggregations": []}}'
        return Response(text, mimetype="application/json")

    @app.post("/api/search/order")
    def search_order() -> Response:
        body = _body()
        associations = _associations(body, ORDER_ASSOCIATIONS, "order")
        with store.lock:
            page, total = _search(body, list(store.orders.values()), _resolve_order, max_limit)
            data = json.loads(json.dumps([prune_order(o, associations) for o in page], default=str))
        return _json({"total": total, "data": data, "aggregations": []})

    @app.post("/api/search/currency")
    def search_currency() -> Response:
        body = _body()
        currencies = [
            {"id": "b7d2554b0ce847cd82f3ac9bd1c0dfca", "isoCode": "EUR", "factor": 1.0, "symbol": "€", "name": "Euro"}
        ]
        page, total = _search(body, currencies, _resolve_plain, max_limit)
        return _json({"total": total, "data": page, "aggregations": []})

    @app.post("/api/search/app")
    def search_app() -> Response:
        body = _body()
        page, total = _search(body, [store.app], _resolve_plain, max_limit)
        return _json({"total": total, "data": page, "aggregations": []})

    @app.post("/api/search/webhook")
    def search_webhook() -> Response:
        body = _body()
        with store.lock:
            hooks = [{**w, "createdAt": iso(w["createdAt"])} for w in store.webhooks.values()]
        page, total = _search(body, hooks, _resolve_plain, max_limit)
        return _json({"total": total, "data": page, "aggregations": []})

    @app.post("/api/webhook")
    def create_webhook() -> Response:
        webhook_id = store.add_webhook(_body())
        return Response(status=204, headers={"Location": f"{store.base_url}/api/webhook/{webhook_id}"})

    @app.delete("/api/webhook/<webhook_id>")
    def delete_webhook(webhook_id: str) -> Response:
        store.delete_webhook(webhook_id)
        return Response(status=204)

    @app.post("/api/_action/order_transaction/<transaction_id>/state/<transition>")
    def transaction_transition(transaction_id: str, transition: str) -> Response:
        with store.lock:
            state = checkout.transition_transaction(store, transaction_id, transition)
        return _json({"data": state})

    @app.patch("/api/order-address/<address_id>")
    def patch_order_address(address_id: str) -> Response:
        body = _body()
        with store.lock:
            checkout.update_order_address(store, address_id, body)
        return Response(status=204)

    # ------------------------------------------------------------------ Store API

    @app.post("/store-api/country")
    def store_country() -> Response:
        body = _body()
        with store.lock:
            countries = list(store.countries.values())
        page, total = _search(body, countries, _resolve_plain, max_limit)
        return _json({"total": total, "elements": page, "apiAlias": "dal_entity_search_result"})

    @app.post("/store-api/account/register")
    def store_register() -> Response:
        body = _body()
        with store.lock:
            customer, token = checkout.register_guest(store, body)
        return _json(customer, headers={"sw-context-token": token})

    @app.post("/store-api/checkout/cart/line-item")
    def store_add_line_items() -> Response:
        body = _body()
        token = request.headers.get("sw-context-token") or ""
        with store.lock:
            if token not in store.contexts:
                raise StoreError(403, "CHECKOUT__CUSTOMER_NOT_LOGGED_IN", "Customer is not logged in.", "Forbidden")
            ctx = store.contexts[token]
            checkout.add_line_items(store, ctx, body.get("items"))
            cart = checkout.cart_json(store, token, ctx)
        return _json(cart, headers={"sw-context-token": token})

    @app.post("/store-api/checkout/order")
    def store_order() -> Response:
        body = _body()
        with store.lock:
            ctx = checkout.context(store, request.headers.get("sw-context-token"))
            order = checkout.place_order(store, ctx, body)
            data = json.loads(json.dumps(order, default=str))
        return _json(data)

    # ------------------------------------------------------------------ storefront

    @app.get("/account/order/<deep_link_code>")
    def storefront_order(deep_link_code: str) -> Response:
        with store.lock:
            order = next((o for o in store.orders.values() if o["deepLinkCode"] == deep_link_code), None)
        if order is None:
            return Response("<h1>Order not found</h1>", status=404, mimetype="text/html")
        page = (
            f"<h1>Order {html.escape(order['orderNumber'])}</h1>"
            f"<p>Total: {order['amountTotal']:.2f} EUR</p><p>Verify your email and postcode to pay.</p>"
        )
        return Response(page, mimetype="text/html")

    @app.get("/detail/<product_id>")
    @app.get("/<path:seo_path>")
    def storefront_product(product_id: str | None = None, seo_path: str | None = None) -> Response:
        with store.lock:
            if product_id is None:
                product_id = next(
                    (pid for pid, urls in store.seo_urls.items() if any(u["seoPathInfo"] == seo_path for u in urls)),
                    None,
                )
            record = store.products.get(product_id or "")
            name = store._inherited(record, "name") if record else None
        if record is None:
            return Response("<h1>Page not found</h1>", status=404, mimetype="text/html")
        return Response(f"<h1>{html.escape(name or '')}</h1>", mimetype="text/html")

    # ------------------------------------------------------------------ control API

    @app.get("/_sandbox/variants")
    def control_variants() -> Response:
        return _json({"ids": store.variant_ids()})

    @app.post("/_sandbox/stock")
    def control_stock() -> Response:
        body = _body()
        store.set_stock(body["variant_id"], int(body["quantity"]))
        return _json({"ok": True})

    @app.post("/_sandbox/price")
    def control_price() -> Response:
        body = _body()
        try:
            price = Decimal(str(body["price"]))
            sale = None if body.get("sale_price") is None else Decimal(str(body["sale_price"]))
        except InvalidOperation:
            raise StoreError(400, "SANDBOX__BAD_PRICE", f"not a price: {body!r}") from None
        store.set_price(body["variant_id"], price, sale)
        return _json({"ok": True})

    @app.post("/_sandbox/sku")
    def control_sku() -> Response:
        body = _body()
        store.set_sku(body["variant_id"], str(body["sku"]))
        return _json({"ok": True})

    @app.post("/_sandbox/publish")
    def control_publish() -> Response:
        body = _body()
        store.set_published(body["product_id"], bool(body["published"]))
        return _json({"ok": True})

    @app.post("/_sandbox/delete")
    def control_delete() -> Response:
        store.delete_product(_body()["product_id"])
        return _json({"ok": True})

    @app.post("/_sandbox/ship")
    def control_ship() -> Response:
        body = _body()
        with store.lock:
            checkout.ship(store, body["order_id"], str(body["company"]), str(body["number"]), body.get("url"))
        return _json({"ok": True})

    @app.post("/_sandbox/delivery")
    def control_delivery() -> Response:
        body = _body()
        with store.lock:
            checkout.move_delivery(store, body["order_id"], str(body["status"]))
        return _json({"ok": True})

    @app.post("/_sandbox/faults")
    def control_faults() -> Response:
        body = _body()
        store.add_faults(int(body["count"]), int(body.get("status", 503)))
        return _json({"ok": True})

    @app.post("/_sandbox/webhooks")
    def control_webhooks() -> Response:
        store.subscribe_all(str(_body()["url"]), ALL_EVENTS)
        return _json({"ok": True})

    @app.post("/_sandbox/uninstall")
    def control_uninstall() -> Response:
        store.uninstall_app()
        return _json({"ok": True})

    @app.get("/_sandbox/orders")
    def control_orders() -> Response:
        with store.lock:
            data = json.loads(json.dumps(list(store.orders.values()), default=str))
        return _json({"orders": data})

    @app.get("/_sandbox/credentials")
    def control_credentials() -> Response:
        return _json(
            {
                "client_id": store.client_id,
                "client_secret": store.client_secret,
                "access_key": store.access_key,
                "shop_secret": store.shop_secret,
            }
        )

    return app


def _resolve_plain(record: dict[str, Any], field: str) -> Any:
    """Dotted lookup on plain JSON records; crossing a list collects values."""
    value: Any = record
    for part in field.split("."):
        if isinstance(value, list):
            value = [v.get(part) if isinstance(v, dict) else None for v in value]
            value = [x for v in value for x in (v if isinstance(v, list) else [v])]
        elif isinstance(value, dict):
            if part not in value:
                raise StoreError(400, "FRAMEWORK__INVALID_FILTER_QUERY", f'Field "{field}" was not found.')
            value = value[part]
        else:
            return None
    return value


def _resolve_order(record: dict[str, Any], field: str) -> Any:
    return _resolve_plain(record, field[6:] if field.startswith("order.") else field)
