"""The sandbox's Admin API behaves like Shopware's, and the adapter copes with it: tokens, paging, errors, limits."""

from __future__ import annotations

import time

import connector_shopware.client as client_module
import pytest
import requests
from connector_shopware.adapter import ShopwareAdapter
from connector_shopware.sandbox import ShopwareSandbox

import connector.http
from connector.errors import ConnectionTestError, PlatformError, SettingsError
from connector.sandbox.seed import generate, iter_products


def token(sb: ShopwareSandbox) -> str:
    settings = sb.connection_settings()
    response = requests.post(
        f"{sb.url}/api/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": settings["client_id"],
            "client_secret": settings["client_secret"],
        },
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    return body["access_token"]


def search(sb: ShopwareSandbox, criteria: dict, *, bearer: str | None = None, **headers: str) -> requests.Response:
    auth = {"Authorization": f"Bearer {bearer or token(sb)}"}
    return requests.post(f"{sb.url}/api/search/product", json=criteria, headers={**auth, **headers}, timeout=10)


def only_error(response: requests.Response) -> dict:
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert set(errors[0]) >= {"status", "code", "title", "detail"}
    assert errors[0]["status"] == str(response.status_code)
    return errors[0]


def test_requests_without_a_token_are_refused_with_shopware_errors(sandbox: ShopwareSandbox) -> None:
    response = requests.post(f"{sandbox.url}/api/search/product", json={}, timeout=10)
    assert response.status_code == 401
    assert only_error(response)["code"] == "FRAMEWORK__UNAUTHORIZED"
    bogus = search(sandbox, {}, bearer="not-a-token")
    assert bogus.status_code == 401


def test_wrong_client_secret_is_refused(sandbox: ShopwareSandbox) -> None:
    response = requests.post(
        f"{sandbox.url}/api/oauth/token",
        json={"grant_type": "client_credentials", "client_id": sandbox.store.client_id, "client_secret": "nope"},
        timeout=10,
    )
    assert response.status_code == 401
    assert "Client authentication failed" in only_error(response)["detail"]


def test_client_credentials_may_come_as_http_basic_auth(sandbox: ShopwareSandbox) -> None:
    """Shopware's OAuth server (league/oauth2-server) reads the client id and secret from HTTP Basic auth too."""
    url, keys = f"{sandbox.url}/api/oauth/token", (sandbox.store.client_id, sandbox.store.client_secret)
    basic = requests.post(url, json={"grant_type": "client_credentials"}, auth=keys, timeout=10)
    assert basic.status_code == 200 and basic.json()["token_type"] == "Bearer"
    assert search(sandbox, {"limit": 1}, bearer=basic.json()["access_token"]).status_code == 200
    wrong = requests.post(url, data={"grant_type": "client_credentials"}, auth=(keys[0], "nope"), timeout=10)
    assert wrong.status_code == 401 and "Client authentication failed" in only_error(wrong)["detail"]
    # values in the body take precedence over the Basic ones
    both = requests.post(url, json={"grant_type": "client_credentials", "client_secret": "nope"}, auth=keys, timeout=10)
    assert both.status_code == 401


def test_bad_credentials_explain_where_to_fix_them(sandbox: ShopwareSandbox) -> None:
    settings = {**sandbox.connection_settings(), "client_secret": "wrong"}
    adapter = ShopwareAdapter(ShopwareAdapter.validate_settings(settings))
    with pytest.raises(ConnectionTestError, match="Integrations"):
        adapter.test_connection()


def test_wrong_sales_channel_key_is_reported_separately(sandbox: ShopwareSandbox) -> None:
    settings = {**sandbox.connection_settings(), "sales_channel_access_key": "SWSCWRONG"}
    adapter = ShopwareAdapter(ShopwareAdapter.validate_settings(settings))
    with pytest.raises(ConnectionTestError, match="sales channel API access key"):
        adapter.test_connection()


def test_settings_refuse_an_api_url(sandbox: ShopwareSandbox) -> None:
    settings = {**sandbox.connection_settings(), "shop_url": sandbox.url + "/api"}
    with pytest.raises(SettingsError) as excinfo:
        ShopwareAdapter.validate_settings(settings)
    assert "shop_url" in excinfo.value.errors


def test_expired_token_is_renewed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "TOKEN_MARGIN", 0.0)  # use the token right up to its end
    with ShopwareSandbox(products=generate(5), options={"token_ttl": 1}) as sb:
        adapter = ShopwareAdapter(ShopwareAdapter.validate_settings(sb.connection_settings()))
        assert adapter.test_connection().details["version"].startswith("6.")
        first = adapter.api.token()
        time.sleep(1.2)
        # The cached token is now dead on the shop: the 401 makes the client fetch a new one and try again.
        adapter.api._expires = time.monotonic() + 60  # the client believes its token still lives
        assert len(list(adapter.iter_variants())) == len(sb.variant_ids())
        assert adapter.api.token() != first


def test_limit_and_page_are_validated(sandbox: ShopwareSandbox) -> None:
    too_big = search(sandbox, {"page": 1, "limit": 501})
    assert too_big.status_code == 400
    assert only_error(too_big)["code"] == "FRAMEWORK__INVALID_LIMIT_QUERY"
    page_zero = search(sandbox, {"page": 0, "limit": 10})
    assert page_zero.status_code == 400
    assert only_error(page_zero)["code"] == "FRAMEWORK__INVALID_PAGE_QUERY"


def test_unknown_association_and_filter_are_400(sandbox: ShopwareSandbox) -> None:
    bearer = token(sandbox)
    response = search(sandbox, {"associations": {"nonsense": {}}}, bearer=bearer)
    assert response.status_code == 400
    assert only_error(response)["code"] == "FRAMEWORK__ASSOCIATION_NOT_FOUND"
    response = search(sandbox, {"filter": [{"type": "between", "field": "stock", "value": 1}]}, bearer=bearer)
    assert response.status_code == 400
    assert only_error(response)["code"] == "FRAMEWORK__INVALID_FILTER_QUERY"


def test_paging_and_total_count_modes(sandbox: ShopwareSandbox) -> None:
    bearer = token(sandbox)
    everything = len(sandbox.store.products)
    exact = search(sandbox, {"page": 2, "limit": 10, "total-count-mode": 1}, bearer=bearer).json()
    assert exact["total"] == everything and len(exact["data"]) == 10
    plain = search(sandbox, {"page": 2, "limit": 10}, bearer=bearer).json()
    assert plain["total"] == 10
    last_page = (everything + 9) // 10
    tail = search(sandbox, {"page": last_page + 1, "limit": 10}, bearer=bearer).json()
    assert tail["data"] == [] and tail["total"] == 0  # an empty page is still a success
    ids = [
        p["id"]
        for page in range(1, last_page + 1)
        for p in search(
            sandbox, {"page": page, "limit": 10, "sort": [{"field": "id", "order": "ASC"}]}, bearer=bearer
        ).json()["data"]
    ]
    assert ids == sorted(ids) and len(set(ids)) == everything


@pytest.mark.parametrize("page_size", [1, 7])
def test_full_read_with_pages_that_end_exactly(page_size: int) -> None:
    products = list(iter_products(n_products=14))
    with ShopwareSandbox(products=products) as sb:
        rows = len(sb.store.products)
        size = page_size if page_size == 1 else next(s for s in range(7, rows + 1) if rows % s == 0)
        adapter = ShopwareAdapter(ShopwareAdapter.validate_settings({**sb.connection_settings(), "page_size": size}))
        ids = [v.external_id for v in adapter.iter_variants()]
        assert len(ids) == len(set(ids)) and set(ids) == set(sb.variant_ids())


def test_inheritance_needs_the_header(sandbox: ShopwareSandbox) -> None:
    bearer = token(sandbox)
    criteria = {"filter": [{"type": "equals", "field": "parentId", "value": next(iter(sandbox.store.children))}]}
    raw = search(sandbox, criteria, bearer=bearer).json()["data"][0]
    assert raw["name"] is None and raw["active"] is None  # a variant inherits these from its parent
    inherited = search(sandbox, criteria, bearer=bearer, **{"sw-inheritance": "1"}).json()["data"][0]
    assert inherited["name"] and inherited["active"] is True


def test_rate_limit_answers_429_with_retry_after() -> None:
    with ShopwareSandbox(products=generate(5), options={"rate_limit": 3}) as sb:
        bearer = token(sb)
        statuses = [search(sb, {"limit": 1}, bearer=bearer) for _ in range(6)]
        throttled = [r for r in statuses if r.status_code == 429]
        assert throttled, "more than 3 requests in a second must be throttled"
        assert float(throttled[0].headers["Retry-After"]) > 0
        assert only_error(throttled[0])["code"] == "FRAMEWORK__RATE_LIMIT_EXCEEDED"


def test_adapter_reads_everything_under_a_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Waits are shortened 100x in tests, which would also shorten the Retry-After waits: keep them real here.
    monkeypatch.setattr(connector.http, "BACKOFF_SCALE", 1.0)
    with ShopwareSandbox(products=generate(6), options={"rate_limit": 4}) as sb:
        adapter = ShopwareAdapter(ShopwareAdapter.validate_settings({**sb.connection_settings(), "page_size": 3}))
        assert {v.external_id for v in adapter.iter_variants()} == set(sb.variant_ids())


def test_persistent_server_errors_surface_after_retries(sandbox: ShopwareSandbox, adapter: ShopwareAdapter) -> None:
    adapter.test_connection()
    sandbox.fail_next(10, 502)
    with pytest.raises(PlatformError) as excinfo:
        list(adapter.iter_variants())
    assert excinfo.value.status == 502 and "SANDBOX__INJECTED_FAULT" in str(excinfo.value)
