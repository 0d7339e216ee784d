"""The plugins' HTTP client over real HTTP: what a request carries when it arrives, redirects, streaming, gzip,
which failures are retried (and which never are), the typed errors plugins catch, timeouts, and many threads
sharing one client."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask, Response, jsonify, redirect, request

from connector.errors import AuthenticationError, NotFound, PlatformError, RateLimited
from connector.http import HttpClient
from connector.sandbox.server import SandboxServer

SLOW_SECONDS = 0.6
LINES = [f"line {n}: {'x' * 40}" for n in range(200)]  # several kilobytes: more than one chunk on the wire


class Platform:
    """A stand-in platform that echoes what it received and fails on request, counting calls per path."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        app = Flask("http-client-tests")

        @app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        @app.route("/echo/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        def echo(rest: str = "") -> Response:
            auth = request.authorization
            return jsonify(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": [list(pair) for pair in request.args.items(multi=True)],
                    "headers": dict(request.headers),
                    "body_b64": base64.b64encode(request.get_data()).decode("ascii"),
                    "form": [list(pair) for pair in request.form.items(multi=True)],
                    "json": request.get_json(silent=True),
                    "auth": [auth.username, auth.password] if auth and auth.type == "basic" else None,
                }
            )

        @app.get("/moved")
        def moved() -> Response:
            return redirect("/echo/landed?via=moved", code=302)

        @app.post("/submitted/<int:code>")
        def submitted(code: int) -> Response:
            # 301/302/303 after a POST: browsers and requests fetch the new place with a GET; 307/308 repeat the POST.
            target = request.args.get("to", "/echo/after")
            return redirect(target, code=code)

        @app.get("/lines")
        def lines() -> Response:
            return Response("\n".join(LINES), mimetype="text/plain")

        @app.get("/gzipped")
        def gzipped() -> Response:
            body = gzip.compress(json.dumps({"compressed": True, "items": list(range(100))}).encode())
            return Response(body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

        @app.route("/flaky/<key>/<int:status>/<int:failures>", methods=["GET", "POST", "DELETE"])
        def flaky(key: str, status: int, failures: int) -> tuple[Response, int, dict[str, str]]:
            with self._lock:
                self.calls[key] += 1
                call = self.calls[key]
            if call > failures:
                return jsonify({"ok": True, "call": call}), 200, {}
            headers = {"Retry-After": request.args["retry_after"]} if "retry_after" in request.args else {}
            return jsonify({"error": {"message": f"failure {call}", "code": f"E{status}"}}), status, headers

        @app.get("/slow")
        def slow() -> Response:
            time.sleep(SLOW_SECONDS)
            return jsonify({"slow": True})

        @app.get("/id/<int:n>")
        def ident(n: int) -> Response:
            return jsonify({"id": n, "query": request.args.get("q")})

        self.server = SandboxServer(app)


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    p = Platform()
    p.server.start()
    yield p
    p.server.stop()


_keys = itertools.count()


def key() -> str:
    """A fresh call counter on the platform for one test."""
    return f"k{next(_keys)}"


@pytest.fixture
def client(platform: Platform) -> HttpClient:
    return HttpClient(
        platform.server.url + "/", platform="Testshop", headers={"Authorization": "Bearer t0ken"}, timeout=(1, 5)
    )


def echoed(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200
    return response.json()


# --------------------------------------------------------------------------- what arrives


def test_json_body_and_headers_arrive(client: HttpClient) -> None:
    got = echoed(client.post("echo", json={"name": "Shirt", "price": "19.90", "tags": ["ä", 1]}))
    assert got["method"] == "POST" and got["json"] == {"name": "Shirt", "price": "19.90", "tags": ["ä", 1]}
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["User-Agent"] == "chatshop-connector"
    assert got["headers"]["Authorization"] == "Bearer t0ken"


def test_per_request_headers_override_the_clients(client: HttpClient) -> None:
    got = echoed(client.get("/echo", headers={"Authorization": "Bearer other", "X-Shop-Topic": "orders"}))
    assert got["headers"]["Authorization"] == "Bearer other"
    assert got["headers"]["X-Shop-Topic"] == "orders"
    assert got["headers"]["User-Agent"] == "chatshop-connector"
    # The override is for that request only.
    assert echoed(client.get("/echo"))["headers"]["Authorization"] == "Bearer t0ken"


def test_header_names_are_case_insensitive_when_overriding(client: HttpClient) -> None:
    got = echoed(client.post("echo", json={"a": 1}, headers={"authorization": "Bearer b", "content-type": "text/x-j"}))
    # One value each (the server would see "Bearer t0ken, Bearer b" if both went out).
    assert got["headers"]["Authorization"] == "Bearer b"
    assert got["headers"]["Content-Type"] == "text/x-j"


def test_basic_auth_is_rfc_7617(platform: Platform) -> None:
    client = HttpClient(platform.server.url, platform="Testshop", auth=("ck_ünï", "cs:secret"))
    got = echoed(client.get("echo"))
    assert got["auth"] == ["ck_ünï", "cs:secret"]
    assert got["headers"]["Authorization"] == "Basic " + base64.b64encode("ck_ünï:cs:secret".encode()).decode()


def test_params_list_values_repeat_the_key(client: HttpClient) -> None:
    got = echoed(client.get("echo", params={"include": [3, 5, 8], "search": "blue shirt & co", "page": 2}))
    assert got["query"] == [
        ["include", "3"],
        ["include", "5"],
        ["include", "8"],
        ["search", "blue shirt & co"],
        ["page", "2"],
    ]


def test_params_are_appended_to_an_existing_query_string(client: HttpClient) -> None:
    got = echoed(client.get("echo/products?fields=id,name", params={"after": "cursor=="}))
    assert got["path"] == "/echo/products"
    assert got["query"] == [["fields", "id,name"], ["after", "cursor=="]]


def test_none_values_are_left_out_of_the_query_and_the_form(client: HttpClient) -> None:
    got = echoed(client.post("echo", params={"after": None, "page": 1}, data={"note": None, "status": "paid"}))
    assert got["query"] == [["page", "1"]]
    assert got["form"] == [["status", "paid"]]


def test_mapping_data_arrives_form_encoded(client: HttpClient) -> None:
    got = echoed(client.post("echo", data={"status": "completed", "line[]": ["a", "b"], "note": "ü & ="}))
    assert got["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert got["form"] == [["status", "completed"], ["line[]", "a"], ["line[]", "b"], ["note", "ü & ="]]


def test_bytes_data_arrives_byte_for_byte_with_the_callers_content_type(client: HttpClient) -> None:
    payload = bytes(range(256)) * 4
    got = echoed(client.put("echo", data=payload, headers={"Content-Type": "application/octet-stream"}))
    assert base64.b64decode(got["body_b64"]) == payload
    assert got["headers"]["Content-Type"] == "application/octet-stream"
    assert got["method"] == "PUT"


def test_text_data_arrives_as_utf8(client: HttpClient) -> None:
    got = echoed(client.post("echo", data="grüße", headers={"Content-Type": "text/plain; charset=utf-8"}))
    assert base64.b64decode(got["body_b64"]) == "grüße".encode()
    assert got["headers"]["Content-Type"] == "text/plain; charset=utf-8"


# --------------------------------------------------------------------------- what comes back


def test_redirects_are_followed_and_url_is_the_final_one(client: HttpClient, platform: Platform) -> None:
    response = client.get("moved")
    got = echoed(response)
    assert got["path"] == "/echo/landed" and got["query"] == [["via", "moved"]]
    assert got["headers"]["Authorization"] == "Bearer t0ken"  # same host: credentials stay
    assert response.url == f"{platform.server.url}/echo/landed?via=moved"


@pytest.mark.parametrize("code", [301, 302, 303])
def test_a_post_redirected_with_301_302_or_303_is_followed_with_a_get_without_its_body(
    client: HttpClient, platform: Platform, code: int
) -> None:
    response = client.post(f"submitted/{code}", json={"order": 1})
    got = echoed(response)
    assert got["method"] == "GET" and got["path"] == "/echo/after"
    assert got["body_b64"] == "" and "Content-Type" not in got["headers"]
    assert got["headers"]["Authorization"] == "Bearer t0ken"  # same host: credentials stay
    assert response.request.method == "GET" and response.url == f"{platform.server.url}/echo/after"


@pytest.mark.parametrize("code", [307, 308])
def test_a_post_redirected_with_307_or_308_is_repeated_with_its_body(client: HttpClient, code: int) -> None:
    got = echoed(client.post(f"submitted/{code}", json={"order": 1}))
    assert got["method"] == "POST" and got["path"] == "/echo/after" and got["json"] == {"order": 1}


def test_credentials_are_not_sent_on_to_another_host(client: HttpClient, platform: Platform) -> None:
    other = platform.server.url.replace("127.0.0.1", "localhost")  # the same server under another host name
    got = echoed(client.post("submitted/302", params={"to": f"{other}/echo/elsewhere"}, json={}))
    assert got["path"] == "/echo/elsewhere" and "Authorization" not in got["headers"]


def test_url_without_a_redirect_is_the_requested_one(client: HttpClient, platform: Platform) -> None:
    response = client.get("echo", params={"a": 1})
    assert response.url == f"{platform.server.url}/echo?a=1"
    assert response.request.method == "GET"


def test_streamed_lines_and_the_client_still_works_after_close(client: HttpClient) -> None:
    response = client.get("lines", stream=True)
    assert [line.decode() for line in response.iter_lines()] == LINES
    response.close()
    # Closing a half-read stream as well, then more requests on the same client.
    partial = client.get("lines", stream=True)
    assert next(partial.iter_lines()).decode() == LINES[0]
    partial.close()
    for n in range(3):
        assert echoed(client.get(f"id/{n}")) == {"id": n, "query": None}


def test_gzip_responses_are_decoded(client: HttpClient) -> None:
    response = client.get("gzipped")
    assert response.json() == {"compressed": True, "items": list(range(100))}
    streamed = client.get("gzipped", stream=True)
    assert json.loads(b"".join(streamed.iter_content(1024))) == {"compressed": True, "items": list(range(100))}
    streamed.close()


# --------------------------------------------------------------------------- retries


def test_429_with_retry_after_zero_is_retried_until_it_succeeds(client: HttpClient, platform: Platform) -> None:
    k = key()
    started = time.monotonic()
    response = client.post(f"flaky/{k}/429/2", params={"retry_after": "0"}, json={"x": 1})
    assert response.json() == {"ok": True, "call": 3}
    assert platform.calls[k] == 3
    assert time.monotonic() - started < 1  # Retry-After: 0 means no wait


def test_503_on_get_is_retried(client: HttpClient, platform: Platform) -> None:
    k = key()
    assert client.get(f"flaky/{k}/503/2").json()["call"] == 3
    assert platform.calls[k] == 3


def test_503_on_plain_post_is_not_retried(client: HttpClient, platform: Platform) -> None:
    k = key()
    with pytest.raises(PlatformError) as caught:
        client.post(f"flaky/{k}/503/1", json={"order": 1})
    assert platform.calls[k] == 1
    assert type(caught.value) is PlatformError
    assert caught.value.status == 503 and caught.value.retryable


def test_503_on_idempotent_post_is_retried(client: HttpClient, platform: Platform) -> None:
    k = key()
    assert client.post(f"flaky/{k}/503/1", json={"order": 1}, idempotent=True).json()["call"] == 2
    assert platform.calls[k] == 2


def test_get_marked_not_idempotent_is_not_retried(client: HttpClient, platform: Platform) -> None:
    k = key()
    with pytest.raises(PlatformError):
        client.get(f"flaky/{k}/500/1", idempotent=False)
    assert platform.calls[k] == 1


def test_exhausted_429_raises_rate_limited_with_retry_after(platform: Platform) -> None:
    client = HttpClient(platform.server.url, platform="Testshop", max_attempts=3)
    k = key()
    with pytest.raises(RateLimited) as caught:
        client.get(f"flaky/{k}/429/99", params={"retry_after": "0"})
    assert platform.calls[k] == 3
    assert caught.value.retry_after == 0 and caught.value.status == 429 and caught.value.retryable


def test_exhausted_5xx_raises_the_last_error(platform: Platform) -> None:
    client = HttpClient(platform.server.url, platform="Testshop", max_attempts=2)
    k = key()
    with pytest.raises(PlatformError) as caught:
        client.get(f"flaky/{k}/502/99")
    assert platform.calls[k] == 2
    assert caught.value.status == 502 and caught.value.retryable and "failure 2" in str(caught.value)


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (403, AuthenticationError), (404, NotFound)])
def test_client_errors_raise_typed_errors_without_retrying(
    client: HttpClient, platform: Platform, status: int, error: type[PlatformError]
) -> None:
    k = key()
    with pytest.raises(error) as caught:
        client.get(f"flaky/{k}/{status}/99")
    assert platform.calls[k] == 1
    assert caught.value.status == status and not caught.value.retryable


def test_400_is_a_plain_platform_error_that_is_not_retried(client: HttpClient, platform: Platform) -> None:
    k = key()
    with pytest.raises(PlatformError) as caught:
        client.get(f"flaky/{k}/400/99")
    assert type(caught.value) is PlatformError and caught.value.status == 400 and not caught.value.retryable
    assert platform.calls[k] == 1


# --------------------------------------------------------------------------- unreachable and slow platforms


def test_connection_refused_is_a_retryable_unreachable_error() -> None:
    client = HttpClient("http://127.0.0.1:9", platform="Testshop", max_attempts=2, timeout=1)
    with pytest.raises(PlatformError) as caught:
        client.get("anything")
    assert caught.value.retryable and "unreachable" in str(caught.value)
    assert "http://127.0.0.1:9/anything" in str(caught.value)


def test_read_timeout_is_a_retryable_timed_out_error(client: HttpClient) -> None:
    started = time.monotonic()
    with pytest.raises(PlatformError) as caught:
        client.get("slow", timeout=(1, 0.2), idempotent=False)
    assert caught.value.retryable and "timed out" in str(caught.value)
    assert time.monotonic() - started < SLOW_SECONDS


def test_timeout_set_after_construction_takes_effect(client: HttpClient) -> None:
    assert client.get("slow").json() == {"slow": True}  # the constructor's 5 s read timeout
    client.timeout = (1, 0.2)
    started = time.monotonic()
    with pytest.raises(PlatformError, match="timed out"):
        client.get("slow", idempotent=False)
    assert time.monotonic() - started < SLOW_SECONDS


# --------------------------------------------------------------------------- error messages


def test_error_detail_and_the_request_are_in_the_message(platform: Platform) -> None:
    def detail(response: requests.Response) -> str:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"

    client = HttpClient(platform.server.url, platform="Testshop", error_detail=detail)
    k = key()
    with pytest.raises(NotFound) as caught:
        client.delete(f"flaky/{k}/404/99", params={"force": "true"})
    message = str(caught.value)
    assert "E404: failure 1" in message
    assert message.startswith("Testshop answered 404 for DELETE ")
    assert f"{platform.server.url}/flaky/{k}/404/99?force=true" in message


def test_an_error_page_the_error_detail_cannot_read_is_still_a_platform_error(platform: Platform) -> None:
    def detail(response: requests.Response) -> str:
        return str(response.json()["no such key"])  # the plugin expected another body: KeyError

    client = HttpClient(platform.server.url, platform="Testshop", error_detail=detail, max_attempts=1)
    k = key()
    with pytest.raises(PlatformError) as caught:
        client.get(f"flaky/{k}/500/99")
    assert caught.value.status == 500 and "failure 1" in str(caught.value)


def test_max_attempts_set_after_construction_takes_effect(platform: Platform) -> None:
    client = HttpClient(platform.server.url, platform="Testshop", max_attempts=5)
    client.max_attempts = 2
    k = key()
    with pytest.raises(PlatformError):
        client.get(f"flaky/{k}/503/99")
    assert platform.calls[k] == 2


def test_without_error_detail_the_body_is_in_the_message(client: HttpClient) -> None:
    k = key()
    with pytest.raises(AuthenticationError, match=r"answered 401 for GET .*failure 1"):
        client.get(f"flaky/{k}/401/99")


# --------------------------------------------------------------------------- threads


def test_many_threads_share_one_client(client: HttpClient) -> None:
    def worker(t: int) -> list[tuple[int, dict[str, Any]]]:
        out = []
        for i in range(20):
            n = t * 1000 + i
            out.append((n, client.get(f"id/{n}", params={"q": f"t{t}"}).json()))
        return out

    with ThreadPoolExecutor(16) as pool:
        results = [pair for chunk in pool.map(worker, range(16)) for pair in chunk]
    assert len(results) == 320
    assert all(got == {"id": n, "query": f"t{n // 1000}"} for n, got in results)
