"""The Flask app of the WooCommerce sandbox: REST API v3, Shipment Tracking, and the ``/_sandbox/`` control API."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import NotFound

from . import auth as auth_module
from . import listing
from .auth import OAuthVerifier
from .store import ApiError, Store
from .wc_auth import WcAuth, blueprint

API = "/wp-json/wc/v3"
TRACKING = "/wp-json/wc-shipment-tracking/v3"
_PUBLIC = ("/wp-json/", f"{TRACKING}/shipment-trackings/providers")
_PRODUCT_STATUSES = ("any", "draft", "pending", "private", "publish", "future", "trash")
_ORDERBY = ("date", "id", "include", "title", "slug", "modified")


@dataclass
class Options:
    """Sandbox knobs (``WooCommerceSandbox(options={...})``)."""

    consumer_key: str
    consumer_secret: str
    key_permissions: str = "read_write"  # read | write | read_write
    default_per_page: int = 10
    max_per_page: int = 100
    rate_limit: int | None = None  # requests per window; None = no limit (WooCommerce core has none)
    rate_limit_window: float = 1.0
    site_name: str = "Chatshop Demo Store"
    #: Whether the site is "served over HTTPS" (WordPress's is_ssl()): then keys go as Basic auth or query
    #: parameters; otherwise requests must be signed with OAuth 1.0a. ``X-Forwarded-Proto: https`` counts too.
    https: bool = False
    #: Tests on one machine: let wc-auth post the keys to 127.0.0.1, any port, plain HTTP (WordPress refuses).
    allow_local_callbacks: bool = False
    #: ``GET /wc/v3/variations``, every product's variations in one list (WooCommerce 10.3 and later); False
    #: answers it ``rest_no_route`` as an older WooCommerce does.
    variations_route: bool = True


@dataclass
class Gate:
    """Fault injection and rate limiting, checked around every API request."""

    options: Options
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: int = 0
    fault_status: int = 503
    fault_method: str | None = None  # only requests with this method fail
    fault_path: str | None = None  # only requests to this path fail
    fault_after: bool = False  # fail *after* doing the work (the response is lost, the change is made)
    window_start: float = 0.0
    window_count: int = 0
    throttled: int = 0  # requests refused by the rate limit so far

    def set_faults(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.faults, self.fault_status = int(data["count"]), int(data.get("status", 503))
            self.fault_method = str(data["method"]).upper() if data.get("method") else None
            self.fault_path = str(data["path"]) if data.get("path") else None
            self.fault_after = bool(data.get("after", False))

    def fault(self, *, after: bool) -> ApiError | None:
        """The error the current request must fail with, if a fault is pending for it."""
        with self.lock:
            if self.faults <= 0 or self.fault_after != after:
                return None
            if self.fault_method not in (None, request.method) or self.fault_path not in (None, request.path):
                return None
            self.faults -= 1
            if self.fault_status == 429:
                return ApiError(
                    429, "rate_limit_exceeded", "Too many requests. Please wait 1 seconds before trying again."
                )
            return ApiError(
                self.fault_status, "internal_server_error", "There has been a critical error on this website."
            )

    def throttle(self) -> None:
        """A fixed-window request limit, as a host's WAF or a rate-limit plugin would enforce."""
        limit = self.options.rate_limit
        if limit is None:
            return
        with self.lock:
            current = time.monotonic()
            if current - self.window_start >= self.options.rate_limit_window:
                self.window_start, self.window_count = current, 0
            self.window_count += 1
            if self.window_count > limit:
                self.throttled += 1
                wait = max(1, math.ceil(self.options.rate_limit_window - (current - self.window_start)))
                raise ApiError(
                    429,
                    "rate_limit_exceeded",
                    f"Too many requests. Please wait {wait} seconds before trying again.",
                    retry_after=wait,
                )


def _authenticate(options: Options, verifier: OAuthVerifier, home_url: str) -> None:
    """``WC_REST_Authentication``: Basic auth or query keys over HTTPS, OAuth 1.0a over plain HTTP."""
    key: str | None = None
    if auth_module.is_ssl(request, options.https):
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            key, secret = auth.username or "", auth.password or ""
        elif request.args.get("consumer_key"):
            key, secret = request.args.get("consumer_key", ""), request.args.get("consumer_secret", "")
        if key is not None:
            if not hmac.compare_digest(key.encode(), options.consumer_key.encode()):
                raise ApiError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
            if not hmac.compare_digest(secret.encode(), options.consumer_secret.encode()):
                raise ApiError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
    else:
        params = verifier.credentials(request)
        if params is not None:
            verifier.verify(request, params, home_url, ssl=False)
            key = params["oauth_consumer_key"]
    if key is None:  # no usable credentials: the request is anonymous, and anonymous may do nothing here
        action = {
            "GET": ("view", "Sorry, you cannot list resources."),
            "POST": ("create", "Sorry, you are not allowed to create resources."),
        }
        verb, message = action.get(request.method, ("edit", "Sorry, you are not allowed to edit this resource."))
        raise ApiError(401, f"woocommerce_rest_cannot_{verb}", message)
    needed = "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"
    if needed not in options.key_permissions:
        raise ApiError(
            401, "woocommerce_rest_authentication_error", f"The API key provided does not have {needed} permissions."
        )


def _json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            400, "rest_invalid_json", "Invalid JSON body passed.", json_error_code=4, json_error_message="Syntax error"
        )
    return body


def _page(page: listing.Page) -> Response:
    mask = listing.fields_mask(request.args)
    response = jsonify(list(page.items) if mask is None else [listing.only_fields(i, mask) for i in page.items])
    response.headers.update(page.headers)
    return response


def _post_filters(args: Mapping[str, str]) -> list[Callable[[Any], bool]]:
    """The filters every post list takes: ``status``, ``modified_after``, ``modified_before`` (a scan, as
    WordPress's ``post_modified`` has no index)."""
    status = listing.choice_arg(args, "status", _PRODUCT_STATUSES, "any")
    after, before = listing.date_arg(args, "modified_after"), listing.date_arg(args, "modified_before")
    filters: list[Callable[[Any], bool]] = []
    if status != "any":
        filters.append(lambda p: p.status == status)
    if after is not None:
        filters.append(lambda p: p.modified > after)
    if before is not None:
        filters.append(lambda p: p.modified < before)
    return filters


def _ordered(store: Store, ids: list[int], args: Mapping[str, str], orderby: Sequence[str], include: Any) -> list[int]:
    """``ids`` (ascending) in the list's ``orderby``/``order``; "date" and "id" need no sort, as ids ascend with
    creation time."""
    by = listing.choice_arg(args, "orderby", orderby, "date")
    descending = listing.choice_arg(args, "order", ("asc", "desc"), "desc") == "desc"
    if by in ("title", "slug", "modified"):
        field = {"title": "name", "slug": "slug", "modified": "modified"}[by]
        ids = sorted(ids, key=lambda i: (getattr(store.posts[i], field), i))
    elif by == "include":
        position = {pid: n for n, pid in enumerate(include or ())}
        return sorted(ids, key=lambda i: position[i]) if include is not None else ids
    return ids[::-1] if descending else ids


def create_app(store: Store, options: Options, gate: Gate) -> Flask:
    """Build the sandbox app around one store."""
    app = Flask("woocommerce-sandbox")
    verifier = OAuthVerifier(options.consumer_key, options.consumer_secret)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["wc_auth"] = wc_auth = WcAuth(options, verifier, allow_local_callbacks=options.allow_local_callbacks)
    app.register_blueprint(blueprint(wc_auth))

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> tuple[Response, int]:
        retry_after = exc.data.pop("retry_after", 1)
        response = jsonify(exc.body())
        if exc.status == 429:
            response.headers["Retry-After"] = str(retry_after)
        response.status_code = exc.status
        return response, exc.status

    @app.errorhandler(404)
    @app.errorhandler(405)
    def no_route(exc: Exception) -> Any:
        if request.path.startswith("/wp-json"):
            body = {
                "code": "rest_no_route",
                "message": "No route was found matching the URL and request method.",
                "data": {"status": 404},
            }
            return jsonify(body), 404
        return exc

    store.images.install(app, "/wp-content/uploads/<path:name>")

    @app.before_request
    def guard() -> None:
        if not request.path.startswith("/wp-json"):
            return
        error = gate.fault(after=False)
        if error is not None:
            raise error
        gate.throttle()
        if request.path not in _PUBLIC:
            _authenticate(options, verifier, store.base_url)

    @app.after_request
    def lose_response(response: Response) -> Response:
        if request.path.startswith("/wp-json") and response.status_code < 400:
            error = gate.fault(after=True)
            if error is not None:
                return api_error(error)[0]
        return response

    def paged(items: list[Any], url: str) -> Response:
        return _page(
            listing.paginate(items, request.args, url, default=options.default_per_page, maximum=options.max_per_page)
        )

    # ------------------------------------------------------------- site

    @app.get("/wp-json/")
    def index() -> Response:
        return jsonify(
            {
                "name": options.site_name,
                "description": "Just another WordPress site",
                "url": store.base_url,
                "home": store.base_url,
                "gmt_offset": 0,
                "timezone_string": "UTC",
                "namespaces": [
                    "oembed/1.0",
                    "wc/v1",
                    "wc/v2",
                    "wc/v3",
                    "wc-shipment-tracking/v3",
                    "wc/store/v1",
                    "wp/v2",
                ],
                "authentication": [],
            }
        )

    @app.get(f"{API}/settings/general/woocommerce_currency")
    def currency() -> Response:
        return jsonify(
            {
                "id": "woocommerce_currency",
                "label": "Currency",
                "description": "This controls what currency prices are listed at in the catalog and which currency "
                "gateways will take payments in.",
                "type": "select",
                "default": "USD",
                "tip": "This controls what currency prices are listed at in the catalog and which currency gateways "
                "will take payments in.",
                "value": store.currency,
                "options": {store.currency: store.currency},
                "_links": {"self": [{"href": f"{store.base_url}{API}/settings/general/woocommerce_currency"}]},
            }
        )

    # ------------------------------------------------------------- products

    @app.get(f"{API}/products")
    def list_products() -> Response:
        args = request.args
        include, sku, kind = listing.ids_arg(args, "include"), args.get("sku"), args.get("type")
        stock_status, search = args.get("stock_status"), (args.get("search") or "").lower()
        with store.lock:
            ids: list[int] = store.product_ids
            filters = _post_filters(args)
            if sku:
                filters.append(lambda p: p.sku in sku.split(","))
            if kind:
                filters.append(lambda p: p.type == kind)
            if stock_status:
                filters.append(lambda p: p.stock_status == stock_status)
            if search:
                filters.append(lambda p: search in p.name.lower())
            if include is not None:
                # Top-level products only (variations are not in ``/products`` lists), ascending like ``ids``:
                # looked up, not scanned, so a cart check does not cost a pass over the whole catalog.
                ids = sorted({i for i in include if i in store.posts and store.posts[i].type != "variation"})
            if filters:
                ids = [i for i in ids if all(f(store.posts[i]) for f in filters)]
            ids = _ordered(store, ids, args, _ORDERBY, include)
            page = listing.paginate(
                ids, args, request.base_url, default=options.default_per_page, maximum=options.max_per_page
            )
            return _page(listing.Page([store.product_payload(i) for i in page.items], page.headers))

    @app.get(f"{API}/products/<int:product_id>")
    def get_product(product_id: int) -> Response:
        with store.lock:
            return jsonify(store.product_payload(product_id))

    @app.get(f"{API}/products/<int:product_id>/variations")
    def list_variations(product_id: int) -> Response:
        args = request.args
        after = listing.date_arg(args, "modified_after")
        include = listing.ids_arg(args, "include")
        descending = listing.choice_arg(args, "order", ("asc", "desc"), "desc") == "desc"
        listing.choice_arg(args, "orderby", (*_ORDERBY, "menu_order"), "date")
        with store.lock:
            parent = store.product(product_id)
            ids = list(parent.variations)
            if include is not None:
                wanted = set(include)
                ids = [i for i in ids if i in wanted]
            if after is not None:
                ids = [i for i in ids if store.posts[i].modified > after]
            if descending:
                ids.reverse()
            page = listing.paginate(
                ids, args, request.base_url, default=options.default_per_page, maximum=options.max_per_page
            )
            return _page(listing.Page([store.variation_payload(parent, i) for i in page.items], page.headers))

    @app.get(f"{API}/variations")
    def list_all_variations() -> Response:
        """``WC_REST_Variations_Controller`` (WooCommerce 10.3): the variations collection without a product in
        the route, each with its ``parent_id``; ``parent`` narrows it to those products' variations."""
        if not options.variations_route:
            return no_route(NotFound())
        args = request.args
        include, parents = listing.ids_arg(args, "include"), listing.ids_arg(args, "parent")
        with store.lock:
            ids = store.variation_ids(parents)
            if include is not None:
                wanted = set(include)
                ids = [i for i in ids if i in wanted]
            if filters := _post_filters(args):
                ids = [i for i in ids if all(f(store.posts[i]) for f in filters)]
            ids = _ordered(store, ids, args, (*_ORDERBY, "menu_order"), include)
            page = listing.paginate(
                ids, args, request.base_url, default=options.default_per_page, maximum=options.max_per_page
            )
            return _page(listing.Page([store.variation_listing_payload(i) for i in page.items], page.headers))

    @app.get(f"{API}/products/<int:product_id>/variations/<int:variation_id>")
    def get_variation(product_id: int, variation_id: int) -> Response:
        with store.lock:
            return jsonify(store.variation_payload(store.product(product_id), variation_id))

    # ------------------------------------------------------------- orders

    @app.get(f"{API}/orders")
    def list_orders() -> Response:
        args = request.args
        statuses = [s for s in (args.get("status") or "any").split(",") if s]
        orderby = listing.choice_arg(args, "orderby", _ORDERBY, "date")
        descending = listing.choice_arg(args, "order", ("asc", "desc"), "desc") == "desc"
        after, before = listing.date_arg(args, "modified_after"), listing.date_arg(args, "modified_before")
        search = (args.get("search") or "").lower()
        customer = args.get("customer")
        include = listing.ids_arg(args, "include")
        with store.lock:
            orders = list(store.orders.values())
            if "any" not in statuses:
                orders = [o for o in orders if o["status"] in statuses]
            else:
                orders = [o for o in orders if o["status"] != "trash"]
            if after is not None:
                orders = [o for o in orders if listing.date_arg(o, "date_modified_gmt") > after]  # type: ignore[operator]
            if before is not None:
                orders = [o for o in orders if listing.date_arg(o, "date_modified_gmt") < before]  # type: ignore[operator]
            if customer:
                orders = [o for o in orders if str(o["customer_id"]) == customer]
            if include is not None:
                orders = [o for o in orders if o["id"] in set(include)]
            if search:
                orders = [o for o in orders if search in store.search_text(o)]
            if orderby == "modified":
                orders.sort(key=lambda o: (o["date_modified_gmt"], o["id"]))
            if descending:
                orders.reverse()
            return paged(orders, request.base_url)

    @app.post(f"{API}/orders")
    def create_order() -> tuple[Response, int]:
        order = store.create_order(_json_body())
        return jsonify(order), 201

    @app.post(f"{API}/orders/batch")
    def batch_orders() -> Response:
        body = _json_body()
        groups = {k: list(body.get(k) or ()) for k in ("create", "update", "delete") if k in body}
        if sum(len(items) for items in groups.values()) > 100:
            raise ApiError(
                413,
                "woocommerce_rest_request_entity_too_large",
                "Unable to accept more than 100 items for this request.",
            )
        result: dict[str, list[Any]] = {}
        for action, items in groups.items():
            result[action] = []
            for item in items:
                try:
                    if action == "create":
                        result[action].append(store.create_order(item))
                    elif action == "update":
                        result[action].append(store.update_order(int(item.get("id") or 0), item))
                    else:
                        result[action].append(store.trash_order(int(item)))
                except (ApiError, TypeError, ValueError) as exc:
                    error = exc if isinstance(exc, ApiError) else ApiError(400, "rest_invalid_param", str(exc))
                    entry_id = item.get("id", 0) if isinstance(item, dict) else item
                    result[action].append({"id": entry_id, "error": error.body()})
        return jsonify(result)

    @app.get(f"{API}/orders/<int:order_id>")
    def get_order(order_id: int) -> Response:
        with store.lock:
            return jsonify(store.order(order_id))

    @app.route(f"{API}/orders/<int:order_id>", methods=["PUT", "POST", "PATCH"])
    def update_order(order_id: int) -> Response:
        with store.lock:
            return jsonify(store.update_order(order_id, _json_body()))

    @app.delete(f"{API}/orders/<int:order_id>")
    def delete_order(order_id: int) -> Response:
        # Without force the order goes to the trash; force=true deletes it for good. Both answer the order.
        with store.lock:
            if request.args.get("force") in ("true", "1"):
                return jsonify(store.delete_order(order_id))
            return jsonify(store.trash_order(order_id))

    # ------------------------------------------------------------- webhooks

    @app.get(f"{API}/webhooks")
    def list_webhooks() -> Response:
        status = listing.choice_arg(request.args, "status", ("all", "active", "paused", "disabled"), "all")
        with store.lock:
            hooks = [h for h in store.webhooks.values() if status in ("all", h.status)]
            return paged([h.json(store.base_url) for h in reversed(hooks)], request.base_url)

    @app.post(f"{API}/webhooks")
    def create_webhook() -> tuple[Response, int]:
        hook, ping = store.create_webhook(_json_body())
        ping()
        return jsonify(hook.json(store.base_url)), 201

    @app.get(f"{API}/webhooks/<int:webhook_id>")
    def get_webhook(webhook_id: int) -> Response:
        with store.lock:
            return jsonify(store.webhook(webhook_id).json(store.base_url))

    @app.route(f"{API}/webhooks/<int:webhook_id>", methods=["PUT", "POST", "PATCH"])
    def update_webhook(webhook_id: int) -> Response:
        return jsonify(store.update_webhook(webhook_id, _json_body()).json(store.base_url))

    @app.delete(f"{API}/webhooks/<int:webhook_id>")
    def delete_webhook(webhook_id: int) -> Response:
        if request.args.get("force") not in ("true", "1"):
            raise ApiError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
        with store.lock:
            hook = store.webhook(webhook_id)
            del store.webhooks[webhook_id]
            return jsonify(hook.json(store.base_url))

    # ------------------------------------------------------------- shipment tracking extension

    @app.get(f"{TRACKING}/orders/<int:order_id>/shipment-trackings")
    def list_tracking(order_id: int) -> Response:
        return jsonify(store.tracking_items(order_id))

    @app.post(f"{TRACKING}/orders/<int:order_id>/shipment-trackings")
    def add_tracking(order_id: int) -> tuple[Response, int]:
        body = _json_body() or request.form.to_dict()
        if not body.get("tracking_number"):
            raise ApiError(
                400, "rest_missing_callback_param", "Missing parameter(s): tracking_number", params=["tracking_number"]
            )
        item = store.add_tracking(
            order_id,
            str(body["tracking_number"]),
            provider=str(body.get("tracking_provider") or ""),
            custom_provider=str(body.get("custom_tracking_provider") or ""),
            custom_link=str(body.get("custom_tracking_link") or ""),
        )
        return jsonify(item), 201

    @app.get(f"{TRACKING}/shipment-trackings/providers")
    def providers() -> Response:
        from .store import PROVIDERS

        return jsonify({"Global": dict(PROVIDERS)})

    # ------------------------------------------------------------- control API

    register_control(app, store, gate)
    return app


def register_control(app: Flask, store: Store, gate: Gate) -> None:
    """``/_sandbox/``: what ShopSandbox's methods call. Ids are the adapter's canonical ids (WooCommerce ids)."""

    def body() -> dict[str, Any]:
        return request.get_json(force=True) or {}

    def post_id(value: Any) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(404, "sandbox_invalid_id", f"not a WooCommerce id: {value!r}") from None

    def ok() -> Response:
        return jsonify({"ok": True})

    @app.get("/_sandbox/variants")
    def variants() -> Response:
        return jsonify({"ids": store.variant_ids()})

    @app.post("/_sandbox/stock")
    def stock() -> Response:
        data = body()
        store.set_stock(post_id(data["variant_id"]), int(data["quantity"]))
        return ok()

    @app.post("/_sandbox/price")
    def price() -> Response:
        data = body()
        sale = data.get("sale_price")
        store.set_price(
            post_id(data["variant_id"]), Decimal(str(data["price"])), None if sale is None else Decimal(str(sale))
        )
        return ok()

    @app.post("/_sandbox/sku")
    def sku() -> Response:
        data = body()
        store.set_sku(post_id(data["variant_id"]), str(data["sku"]))
        return ok()

    @app.post("/_sandbox/publish")
    def publish() -> Response:
        data = body()
        store.set_published(post_id(data["product_id"]), bool(data["published"]))
        return ok()

    @app.post("/_sandbox/product")
    def edit_product() -> Response:
        data = body()
        store.edit_product(post_id(data["product_id"]), {k: data[k] for k in ("name", "image") if k in data})
        return ok()

    @app.post("/_sandbox/move")
    def move() -> Response:
        data = body()
        store.move_variation(post_id(data["variant_id"]), post_id(data["product_id"]))
        return ok()

    @app.post("/_sandbox/delete")
    def delete() -> Response:
        store.delete_product(post_id(body()["product_id"]))
        return ok()

    @app.post("/_sandbox/delete_order")
    def delete_order_control() -> Response:
        """The owner deletes an order in WP admin: to the trash, or for good with ``force``."""
        data = body()
        if data.get("force"):
            store.delete_order(post_id(data["order_id"]))
        else:
            store.trash_order(post_id(data["order_id"]))
        return ok()

    @app.post("/_sandbox/ship")
    def ship() -> Response:
        data = body()
        store.ship(post_id(data["order_id"]), str(data["company"]), str(data["number"]), data.get("url"))
        return ok()

    @app.post("/_sandbox/delivery")
    def delivery() -> Response:
        data = body()
        store.set_delivery(post_id(data["order_id"]), str(data["status"]))
        return ok()

    @app.post("/_sandbox/faults")
    def faults() -> Response:
        data = body()
        gate.set_faults(data)
        return ok()

    @app.post("/_sandbox/webhooks")
    def webhooks() -> Response:
        """Subscribe a URL to every product and order topic, as an owner would in WooCommerce > Settings."""
        url = str(body()["url"])
        topics = (
            "product.created",
            "product.updated",
            "product.deleted",
            "order.created",
            "order.updated",
            "order.deleted",
        )
        for topic in topics:
            _, ping = store.create_webhook({"topic": topic, "delivery_url": url, "name": f"Sandbox {topic}"})
            ping()
        return ok()

    @app.get("/_sandbox/orders")
    def orders() -> Response:
        with store.lock:
            return jsonify({"orders": list(store.orders.values())})

    @app.get("/_sandbox/deliveries")
    def deliveries() -> Response:
        """Every webhook delivery attempted so far (tests check pings and signatures)."""
        store.sender.wait_idle(5)
        return jsonify(
            {
                "deliveries": [
                    {"url": d.url, "headers": d.headers, "body": d.body.decode(), "attempts": d.attempts}
                    for d in list(store.sender.deliveries)
                ]
            }
        )
