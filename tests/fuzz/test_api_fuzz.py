"""Fuzzing the admin API from its own OpenAPI document (schemathesis), authenticated: never a 5xx, and every
answer (errors too) in the shape the document declares."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.hostile import EXAMPLES, FUZZ_SETTINGS

SPEC = "/api/v1/openapi.json"


@pytest.mark.slow
def test_api_survives_generated_requests(app: Any, api_headers: dict[str, str]) -> None:
    # Every operation of the document the running app serves, requests generated from its schemas (and sent into
    # the same app, on a real database), a few dozen each.
    schema = schemathesis.openapi.from_wsgi(SPEC, app)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @settings(FUZZ_SETTINGS, max_examples=max(EXAMPLES // 16, 15))
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(headers=api_headers, checks=checks)

        call()


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic dXNlcjpwdw==", "Bearer "])
def test_refused_requests_match_the_declared_error_schema(client: Any, authorization: str | None) -> None:
    # A client generated from the OpenAPI document reads every error as its Error schema: 401s too.
    error = client.get(SPEC).get_json()["components"]["schemas"]["Error"]
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/api/v1/connections/", headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert error["additionalProperties"] is False and set(body) <= set(error["properties"])
    json_types = {"integer": int, "string": str, "object": dict}
    assert all(isinstance(value, json_types[error["properties"][key]["type"]]) for key, value in body.items())
    assert body["code"] == 401 and body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_ids_beyond_64_bits_are_not_found_not_a_server_error(client: Any, api_headers: dict[str, str]) -> None:
    # Unauthenticated webhook routes and authenticated API routes alike: a 404, not an OverflowError.
    huge = "99999999999999999999"
    assert client.post(f"/webhooks/shopify/{huge}", data=b"{}").status_code == 404
    assert client.post(f"/webhooks/whatsapp/{2**63}", data=b"{}").status_code == 404
    assert client.get(f"/api/v1/connections/shop/{huge}", headers=api_headers).status_code == 404
    refused = client.post("/api/v1/sync-runs/", json={"shop_connection_id": 2**64}, headers=api_headers)
    assert refused.status_code == 422
    assert "shop_connection_id" in str(refused.get_json()["errors"])


def test_deeply_nested_or_surrogate_json_gets_a_4xx(client: Any, api_headers: dict[str, str]) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    headers = {**api_headers, "Content-Type": "application/json"}
    assert client.post("/api/v1/connections/shops", data=deep, headers=headers).status_code == 400
    nested = b'{"name": "a", "platform": "woocommerce", "settings": ' + b'{"a":' * 200 + b"1" + b"}" * 201
    assert client.post("/api/v1/connections/shops", data=nested, headers=headers).status_code == 400
    # A lone surrogate is stored as U+FFFD rather than failing in the database.
    created = client.post(
        "/api/v1/connections/shops",
        data=b'{"name": "Shop \\ud800", "platform": "woocommerce", "settings": {"shop_url": "https://s.example", '
        b'"consumer_key": "ck_1", "consumer_secret": "cs_1", "webhook_secret": "w"}}',
        headers=headers,
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["name"] == "Shop \ufffd"
