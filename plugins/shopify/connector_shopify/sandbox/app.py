"""The Flask app of the Shopify sandbox: the Admin GraphQL endpoint, bulk result files, payment pages, control API."""

from __future__ import annotations

import html
import json
from typing import Any

from connector_shopify.sandbox import oauth
from connector_shopify.sandbox.api import ShopApi
from connector_shopify.sandbox.control import Faults, blueprint, mark_paid
from flask import Flask, Response, abort, request
from werkzeug.exceptions import HTTPException

_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers or {}, content_type="application/json")


def create_app(api: ShopApi) -> Flask:
    app = Flask("shopify-sandbox")
    faults = Faults()
    app.register_blueprint(blueprint(api, faults))
    app.register_blueprint(oauth.blueprint(api, api.oauth))

    api.store.images.install(app, "/s/files/<path:name>")

    @app.before_request
    def remember_url() -> None:
        if not api.store.base_url:
            api.store.base_url = request.host_url.rstrip("/")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _json(exc.code or 500, {"errors": exc.description or exc.name})

    @app.post("/admin/api/<version>/graphql.json")
    def graphql_endpoint(version: str) -> Response:
        with api.store.lock:
            failure = faults.take()
        if failure is not None:
            headers = {"Retry-After": "1.0"} if failure == 429 else {}
            return _json(failure, {"errors": _REASONS.get(failure, "Error")}, headers)
        if request.mimetype == "application/graphql":
            body: Any = {"query": request.get_data(as_text=True)}
        else:
            body = request.get_json(silent=True)
        status, payload, headers = api.graphql(version, request.headers.get("X-Shopify-Access-Token"), body)
        return _json(status, payload, headers)

    @app.get("/bulk-results/<token>.jsonl")
    def bulk_result(token: str) -> Response:
        with api.store.lock:
            data = api.store.bulk_files.get(token)
        if data is None:
            abort(404, "no such result file (expired?)")
        return Response(data, content_type="application/jsonl")

    @app.get("/<int:shop_num>/checkouts/<token>/recover")
    def recover_checkout(shop_num: int, token: str) -> Response:
        """The recovery link of an abandoned checkout: the customer's cart, ready to pay."""
        from connector_shopify.sandbox.checkouts import SHOP_NUM, by_token

        with api.store.lock:
            record = by_token(api.store, token) if shop_num == SHOP_NUM else None
            if record is None or not record["abandonedCheckoutUrl"].endswith(f"?key={request.args.get('key')}"):
                abort(404, "unknown checkout")
            lines = "".join(f"<li>{html.escape(line['title'])} x {line['quantity']}</li>" for line in record["_lines"])
            total = record["totalPriceSet"]["shopMoney"]
            done = record["completedAt"] is not None
        state = "This checkout is completed." if done else "<button>Complete your purchase</button>"
        page = f"<h1>Your cart</h1><ul>{lines}</ul><p>Total: {total['amount']} {total['currencyCode']}</p>{state}"
        return Response(page, content_type="text/html")

    @app.route("/payments/<token>", methods=["GET", "POST"])
    def payment_page(token: str) -> Response:
        """The payment link a chat customer opens: shows the amount due; POST pays (as the checkout would)."""
        with api.store.lock:
            num = api.store.payment_tokens.get(token)
            order = api.store.orders.by_id.get(num) if num is not None else None
            if order is None:
                abort(404, "unknown payment link")
            if request.method == "POST":
                mark_paid(api, order)
            total = order["totalPriceSet"]["shopMoney"]
            paid = order["displayFinancialStatus"] == "PAID"
        state = "Paid, thank you!" if paid else '<form method="post"><button>Pay now</button></form>'
        html = f"<h1>Order {order['name']}</h1><p>Total: {total['amount']} {total['currencyCode']}</p>{state}"
        return Response(html, content_type="text/html")

    return app
