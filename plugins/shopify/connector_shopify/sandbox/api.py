"""The Admin GraphQL endpoint: auth, validation against the real schema, cost, throttling, execution, webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import graphql
from connector_shopify.sandbox import access, resolvers, rest, versions
from connector_shopify.sandbox.bucket import CostBucket
from connector_shopify.sandbox.bulk import BulkRunner
from connector_shopify.sandbox.executor import Context, ExecutionError, Executor
from connector_shopify.sandbox.oauth import OAuthServer
from connector_shopify.sandbox.schema import parse_and_validate, requested_cost
from connector_shopify.sandbox.store import Store, iso, now
from graphql import OperationDefinitionNode
from graphql.execution.values import get_variable_values

from connector.sandbox.webhooks import WebhookSender

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"

Reply = tuple[int, Any, dict[str, str]]


class ShopApi:
    """Everything behind ``/admin/api/<version>/graphql.json``; the Flask app only moves bytes."""

    def __init__(
        self,
        store: Store,
        *,
        access_token: str,
        client_secret: str,
        api_version: str,
        bucket_size: float,
        restore_rate: float,
        max_query_cost: int,
        max_page_size: int,
        throttle_status: int,
        access_scopes: list[str],
        supported_versions: Sequence[str] = versions.SUPPORTED,
    ):
        self.store = store
        self.access_scopes = access_scopes  # as granted; write_X implies read_X when checked
        self.access_token = access_token
        self.client_secret = client_secret
        self.api_version = api_version
        self.supported_versions = tuple(supported_versions)
        self.max_query_cost = max_query_cost
        self.max_page_size = max_page_size
        self.throttle_status = throttle_status
        self.bucket = CostBucket(bucket_size, restore_rate)
        #: Points charged (actual cost) and queries answered / throttled since start: the benchmark's meter.
        self.charged = {"points": 0, "queries": 0, "throttled": 0}
        #: Guards ``charged``. Not the store's lock: a bulk operation holds that while it builds its file, and the
        #: answer to the mutation that started it must not wait for the file (Shopify answers it at once).
        self.meter_lock = threading.Lock()
        self.bulk = BulkRunner(self)
        self.executor = Executor(resolvers.build(self))
        self.sender = WebhookSender()
        self.subscribed_urls: list[str] = []  # control-API subscriptions: every topic
        #: Tokens issued by the OAuth endpoints (installed by approval, client credentials).
        self.oauth = OAuthServer(client_id="", client_secret=client_secret)

    # ----------------------------------------------------------------- GraphQL

    def graphql(self, version: str, token: str | None, body: dict[str, Any] | None) -> Reply:
        served = versions.served_version(version, self.supported_versions)
        if served is None:
            return 404, {"errors": "Not Found"}, {}
        # An old or unknown version falls forward to the oldest supported one; the header says which answered.
        headers = {"X-Shopify-API-Version": served}
        if not token or not (hmac.compare_digest(token, self.access_token) or self.oauth.accepts(token)):
            return 401, {"errors": INVALID_TOKEN}, headers
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, {"errors": {"query": "Required parameter missing or invalid"}}, headers
        document, errors = parse_and_validate(body["query"])
        if document is None or errors:
            return 200, {"errors": list(errors)}, headers
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = body.get("operationName")
        chosen = [op for op in operations if name is None or (op.name and op.name.value == name)]
        if len(chosen) != 1:
            message = "An operation name is required" if name is None else f'No operation named "{name}"'
            return 200, {"errors": [{"message": message}]}, headers
        operation = chosen[0]
        if operation.operation is graphql.OperationType.SUBSCRIPTION:
            return 200, {"errors": [{"message": "Subscriptions are not supported"}]}, headers
        raw_variables = body.get("variables") or {}
        if not isinstance(raw_variables, dict):
            return 200, {"errors": [{"message": "Variables must be a JSON object"}]}, headers
        variables = get_variable_values(_schema(), operation.variable_definitions or (), raw_variables)
        if isinstance(variables, list):
            return 200, {"errors": [_variable_error(e) for e in variables]}, headers
        # graphql-core 3.3 wraps the coerced values (``.coerced``); 3.2 returns the dict itself.
        coerced: dict[str, Any] = getattr(variables, "coerced", variables)  # type: ignore[arg-type]
        cost = requested_cost(document, operation, coerced)
        if cost > self.max_query_cost:
            return (
                200,
                {
                    "errors": [
                        {
                            "message": f"Query cost is {cost}, which exceeds the single query max cost limit "
                            f"({self.max_query_cost}).",
                            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": self.max_query_cost},
                        }
                    ]
                },
                headers,
            )
        if not self.bucket.reserve(cost):
            with self.meter_lock:
                self.charged["throttled"] += 1
            payload: dict[str, Any] = {
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": _RATE_DOCS}}],
                "extensions": {"cost": self._cost(cost, None)},
            }
            return self.throttle_status, payload, headers
        ctx = Context(document=document, variables=variables, store=self.store)
        try:
            with self.store.lock:
                denied, null_data = access.denied_root_fields(self.executor, self.access_scopes, operation, ctx)
                data: dict[str, Any] | None = self.executor.execute(ctx, operation, skip=denied)
        except ExecutionError as exc:
            # Shopify never charges more than it reserved, failed or not.
            actual = min(ctx.cost, cost)
            self.bucket.refund(cost - actual)
            self._charge(actual)
            return 200, {"errors": [exc.as_json()], "extensions": {"cost": self._cost(cost, actual)}}, headers
        actual = min(ctx.cost, cost)
        self.bucket.refund(cost - actual)
        self._charge(actual)
        if denied:
            # A denied non-null root field nulls the whole of `data`, as GraphQL's null propagation does.
            payload = {
                "data": None if null_data else data,
                "errors": [error.as_json() for error in denied.values()],
                "extensions": {"cost": self._cost(cost, actual)},
            }
            return 200, payload, headers
        return 200, {"data": data, "extensions": {"cost": self._cost(cost, actual)}}, headers

    def _charge(self, actual: int) -> None:
        with self.meter_lock:
            self.charged["points"] += actual
            self.charged["queries"] += 1

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self.bucket.status()}

    # ----------------------------------------------------------------- webhooks

    def emit(self, topic: str, record: dict[str, Any], payload: dict[str, Any] | None = None) -> None:
        """Send ``topic`` to every subscriber, signed like Shopify (base64 HMAC-SHA256 of the body)."""
        if payload is None:
            payload = _payload(topic, record, self.store)
        enum = resolvers.topic_enum(topic)
        urls = [s["_url"] for s in self.store.subscriptions if s["topic"] == enum] + self.subscribed_urls
        if not urls:
            return
        body = json.dumps(payload).encode()
        event_id = str(uuid.uuid4())
        for url in dict.fromkeys(urls):
            self.sender.send(url, body, self.webhook_headers(topic, body, event_id))

    def webhook_headers(self, topic: str, body: bytes, event_id: str) -> dict[str, str]:
        digest = hmac.new(self.client_secret.encode(), body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": self.store.shop_domain,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": iso(now()),
        }


_RATE_DOCS = "https://shopify.dev/api/usage/rate-limits"


def _schema() -> Any:
    from connector_shopify.sandbox.schema import admin_schema

    return admin_schema()


def _variable_error(error: graphql.GraphQLError) -> dict[str, Any]:
    return {"message": error.message, "extensions": {"code": "INVALID_VARIABLE"}}


def _payload(topic: str, record: dict[str, Any], store: Store) -> dict[str, Any]:
    if topic.startswith("products/"):
        return {"id": record["_num"]} if topic == "products/delete" else rest.product_json(record)
    if topic.startswith("orders/"):
        return rest.order_json(record)
    if topic.startswith("checkouts/"):
        return rest.checkout_json(record, store.currency)
    if topic == "inventory_levels/update":
        return rest.inventory_level_json(record)
    if topic == "app/uninstalled":
        return rest.shop_json(store)
    raise ValueError(f"no payload builder for {topic}")
