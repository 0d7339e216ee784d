"""Dashboard login hardening over real HTTP (the app served by waitress, concurrent clients on threads): the
first user only through a one-time setup link and exactly once, forwarded headers only from trusted proxies,
session cookies (attributes, lifetime, revocation) and the login throttle."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from connector.config import load_config
from connector.dashboard import setup_link
from connector.dashboard.users import create_user
from connector.db.models import Task
from connector.db.models_dashboard import DashboardUser, LoginAttempt, LoginThrottle
from connector.plugins import Plugins
from connector.runtime import Runtime

from .conftest import EMAIL, PASSWORD, Live, config_file, csrf_of, run_cli, start_live, wait_until

OWNER_ADDRESS = "198.51.100.7"
ATTACKER_ADDRESS = "203.0.113.66"


@pytest.fixture
def serve(tmp_path: Path, plugins: Plugins) -> Iterator[Callable[..., Live]]:
    """Start a served connector with config overrides (``start_live``'s arguments); stopped after the test."""
    started: list[Live] = []

    def start(**kwargs: Any) -> Live:
        live = start_live(tmp_path, plugins, **kwargs)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


def _concurrently(count: int, action: Callable[[int], Any]) -> list[Any]:
    """Run ``action(i)`` on ``count`` threads released together; their results in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = action(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _login_form(live: Live, client: requests.Session, headers: dict[str, str] | None = None) -> str:
    return csrf_of(client.get(live.dashboard("/login"), headers=headers, timeout=30).text)


def _log_in(
    live: Live, client: requests.Session, password: str = PASSWORD, headers: dict[str, str] | None = None
) -> requests.Response:
    token = _login_form(live, client, headers)
    return client.post(
        live.dashboard("/login"),
        data={"csrf_token": token, "email": EMAIL, "password": password},
        headers=headers,
        allow_redirects=False,
        timeout=60,
    )


def _can_see_overview(live: Live, cookie: str) -> bool:
    """Whether a browser sending only this session cookie gets the overview (not the login page)."""
    response = requests.get(live.dashboard("/"), cookies={"session": cookie}, allow_redirects=False, timeout=30)
    return response.status_code == 200


def _checked_passwords(live: Live) -> int:
    with live.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(LoginAttempt)) or 0


# ------------------------------------------------------------------------------------------------- the first user


def test_the_first_user_page_needs_the_setup_link_even_from_this_machine(serve: Callable[..., Live]) -> None:
    live = serve(user=False, server={"demo": False})
    # Behind a reverse proxy on the same machine every visitor comes from 127.0.0.1: that is no credential.
    page = requests.get(live.dashboard("/first-user"), timeout=30)
    assert page.status_code == 403 and "connector dashboard setup-link" in page.text
    forged = requests.get(live.dashboard("/first-user?token=guessed"), timeout=30)
    assert forged.status_code == 403
    token = setup_link.new_token(live.runtime)
    offered = requests.get(live.dashboard(f"/first-user?token={token}"), timeout=30)
    assert offered.status_code == 200 and "Create account" in offered.text


def test_concurrent_first_user_posts_create_exactly_one_admin(database_url: str, serve: Callable[..., Live]) -> None:
    live = serve(user=False, server={"demo": False}, database_url=database_url)
    token = setup_link.new_token(live.runtime)
    clients = [requests.Session() for _ in range(10)]
    forms = [csrf_of(c.get(live.dashboard(f"/first-user?token={token}"), timeout=30).text) for c in clients]

    def post(i: int) -> requests.Response:
        data = {"csrf_token": forms[i], "token": token, "email": f"admin{i}@example.com", "password": PASSWORD}
        return clients[i].post(live.dashboard("/first-user"), data=data, allow_redirects=False, timeout=60)

    responses = _concurrently(10, post)
    with live.runtime.db.session() as session:
        admins = session.scalars(select(DashboardUser.email)).all()
    assert len(admins) == 1
    winners = [r for r in responses if r.headers.get("Location", "").endswith("/dashboard/setup")]
    assert len(winners) == 1, [(r.status_code, r.headers.get("Location")) for r in responses]
    # The link worked once: it offers nothing now, and the losers were sent to the login page.
    assert all(r.status_code == 302 for r in responses)
    assert requests.get(live.dashboard(f"/first-user?token={token}"), allow_redirects=False).status_code == 302


def test_connector_init_prints_a_setup_link_and_setup_link_replaces_it(tmp_path: Path, plugins: Plugins) -> None:
    target = tmp_path / "connector.toml"
    result = run_cli("init", "--path", str(target), "--database-url", f"sqlite:///{tmp_path / 'init.db'}")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "first dashboard user" in x)
    first = line.split("/dashboard/first-user?token=")[1].strip()
    again = run_cli("--config", str(target), "dashboard", "setup-link")
    assert again.returncode == 0, again.stderr
    second = again.stdout.split("/dashboard/first-user?token=")[1].strip()
    runtime = Runtime(load_config(target), plugins=plugins)
    try:
        assert setup_link.is_valid(runtime, second) and not setup_link.is_valid(runtime, first)
        create_user(runtime, EMAIL, PASSWORD)
    finally:
        runtime.close()
    # Once a user exists there is nothing to set up.
    late = run_cli("--config", str(target), "dashboard", "setup-link")
    assert late.returncode != 0 and "exists already" in late.stderr


# ------------------------------------------------------------------------------------------------- trusted proxies


def test_forwarded_for_from_an_untrusted_peer_is_ignored(serve: Callable[..., Live]) -> None:
    live = serve(login_max_failures=2, login_backoff_seconds=60)
    for i in range(2):
        spoofed = {"X-Forwarded-For": f"192.0.2.{i + 1}", "X-Forwarded-Proto": "https"}
        assert _log_in(live, requests.Session(), "wrong password!", spoofed).status_code == 401
    # A fresh forged address does not escape the throttle of the real peer...
    fresh = {"X-Forwarded-For": "192.0.2.99"}
    assert _log_in(live, requests.Session(), "wrong password!", fresh).status_code == 429
    assert _checked_passwords(live) == 2


def _behind_a_proxy(serve: Callable[..., Live], *, failures: int, account_cap: int) -> Live:
    """A connector trusting a reverse proxy on 127.0.0.1 (this test client plays it), with a long back-off per
    address and at most ``account_cap`` seconds per login name."""
    return serve(
        server={"trusted_proxies": ["127.0.0.0/8"]},
        login_max_failures=failures,
        login_backoff_seconds=60,
        login_account_max_backoff_seconds=account_cap,
    )


def test_forwarded_headers_from_a_trusted_proxy_are_believed(serve: Callable[..., Live]) -> None:
    live = _behind_a_proxy(serve, failures=2, account_cap=2)
    attacker = {"X-Forwarded-For": ATTACKER_ADDRESS}
    for _ in range(2):
        assert _log_in(live, requests.Session(), "wrong password!", attacker).status_code == 401
    assert _log_in(live, requests.Session(), "wrong password!", attacker).status_code == 429
    # Another client behind the same proxy is another address; HTTPS at the proxy makes the cookie Secure.
    owner = {"X-Forwarded-For": OWNER_ADDRESS, "X-Forwarded-Proto": "https"}
    client = requests.Session()
    # (The form over plain HTTP: a Secure cookie would not come back to this plain-HTTP test client.)
    token = _login_form(live, client, {"X-Forwarded-For": OWNER_ADDRESS})
    # The account itself is in back-off now; wait as long as the server says, then the owner gets in.
    response = _wait_out_throttle(
        lambda: client.post(
            live.dashboard("/login"),
            data={"csrf_token": token, "email": EMAIL, "password": PASSWORD},
            headers=owner,
            allow_redirects=False,
            timeout=60,
        ),
        bound=live.runtime.config.dashboard.login_account_max_backoff_seconds + 10,
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def _wait_out_throttle(attempt: Callable[[], requests.Response], bound: float) -> requests.Response:
    """Repeat ``attempt`` while it is throttled (429), sleeping as long as its Retry-After says; at most ``bound``
    seconds in all."""
    deadline = time.monotonic() + bound
    while True:
        response = attempt()
        if response.status_code != 429:
            return response
        wait = float(response.headers["Retry-After"])
        assert time.monotonic() + wait <= deadline, f"still throttled, {wait}s more to wait"
        time.sleep(wait)


# ------------------------------------------------------------------------------------------------- sessions


def test_the_session_cookie_is_lax_httponly_and_lives_the_configured_hours(serve: Callable[..., Live]) -> None:
    live = serve(session_hours=12)
    client = requests.Session()
    response = _log_in(live, client)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert attributes["samesite"].lower() == "samesite=lax"
    assert "httponly" in attributes
    assert "secure" not in attributes  # plain HTTP, no trusted proxy saying otherwise
    expires = parsedate_to_datetime(attributes["expires"].split("=", 1)[1])
    hours = (expires - datetime.now(UTC)).total_seconds() / 3600
    assert 11.9 < hours <= 12.0


def test_a_session_ends_session_hours_after_the_login(serve: Callable[..., Live]) -> None:
    live = serve(session_hours=1)
    client = requests.Session()
    assert _log_in(live, client).status_code == 302
    cookie = client.cookies["session"]
    assert _can_see_overview(live, cookie)
    # The same session as the browser holds it, but logged in 61 minutes ago (signed with the app's key).
    app = live.server.app
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(cookie)
    old = serializer.dumps({**data, "login_at": data["login_at"] - 61 * 60})
    assert not _can_see_overview(live, old)


def test_a_copied_cookie_is_dead_after_logout(serve: Callable[..., Live]) -> None:
    live = serve()
    client = requests.Session()
    assert _log_in(live, client).status_code == 302
    copied = client.cookies["session"]
    overview = client.get(live.dashboard("/"), timeout=30)
    logout = client.post(
        live.dashboard("/logout"), data={"csrf_token": csrf_of(overview.text)}, allow_redirects=False, timeout=30
    )
    assert logout.status_code == 302
    assert not _can_see_overview(live, copied)


def test_cookies_die_after_set_password_and_deactivation(serve: Callable[..., Live], tmp_path: Path) -> None:
    live = serve()
    path = config_file(tmp_path, live.runtime)
    client = requests.Session()
    assert _log_in(live, client).status_code == 302
    assert _can_see_overview(live, client.cookies["session"])
    changed = run_cli("--config", str(path), "dashboard", "set-password", EMAIL, "--password", "a new password 1")
    assert changed.returncode == 0, changed.stderr
    assert not _can_see_overview(live, client.cookies["session"])

    again = requests.Session()
    assert _log_in(live, again, "a new password 1").status_code == 302
    off = run_cli("--config", str(path), "dashboard", "deactivate", EMAIL)
    assert off.returncode == 0, off.stderr
    assert not _can_see_overview(live, again.cookies["session"])
    assert _log_in(live, requests.Session(), "a new password 1").status_code == 401
    on = run_cli("--config", str(path), "dashboard", "activate", EMAIL)
    assert on.returncode == 0, on.stderr
    assert _log_in(live, requests.Session(), "a new password 1").status_code == 302


# ------------------------------------------------------------------------------------------------- the throttle


def test_forty_concurrent_wrong_passwords_check_at_most_the_limit(
    database_url: str, serve: Callable[..., Live]
) -> None:
    live = serve(login_max_failures=5, login_backoff_seconds=60, database_url=database_url)
    clients = [requests.Session() for _ in range(40)]
    forms = [_login_form(live, c) for c in clients]

    def post(i: int) -> int:
        data = {"csrf_token": forms[i], "email": EMAIL, "password": f"wrong password {i}"}
        return clients[i].post(live.dashboard("/login"), data=data, allow_redirects=False, timeout=120).status_code

    statuses = _concurrently(40, post)
    assert statuses.count(401) <= 5 and statuses.count(401) + statuses.count(429) == 40
    assert _checked_passwords(live) <= 5


def test_the_owner_still_gets_in_from_another_address(serve: Callable[..., Live]) -> None:
    live = _behind_a_proxy(serve, failures=5, account_cap=3)
    attacker = {"X-Forwarded-For": ATTACKER_ADDRESS}
    clients = [requests.Session() for _ in range(40)]
    forms = [_login_form(live, c, attacker) for c in clients]

    def post(i: int) -> int:
        data = {"csrf_token": forms[i], "email": EMAIL, "password": f"wrong password {i}"}
        response = clients[i].post(
            live.dashboard("/login"), data=data, headers=attacker, allow_redirects=False, timeout=120
        )
        return response.status_code

    assert 429 in _concurrently(40, post)
    owner = {"X-Forwarded-For": OWNER_ADDRESS}
    client = requests.Session()
    response = _wait_out_throttle(lambda: _log_in(live, client, PASSWORD, owner), bound=3 + 10)
    assert response.status_code == 302
    assert _can_see_overview(live, client.cookies["session"])
    # The attacker's own address stays in back-off, even with the right password.
    assert _log_in(live, requests.Session(), PASSWORD, attacker).status_code == 429


def test_the_throttle_backs_off_exponentially_instead_of_locking_out(serve: Callable[..., Live]) -> None:
    live = serve(login_max_failures=1, login_backoff_seconds=3, login_max_backoff_seconds=600)
    waits = []
    for _ in range(3):
        wait_until(lambda: _log_in(live, requests.Session(), "wrong password!").status_code == 401, timeout=30)
        waits.append(int(_log_in(live, requests.Session(), "wrong password!").headers["Retry-After"]))
    assert waits[0] < waits[1] < waits[2]


def test_spent_throttle_rows_are_pruned_by_the_hourly_job(serve: Callable[..., Live]) -> None:
    live = serve(login_max_failures=1, login_backoff_seconds=1, login_window_seconds=10)
    assert "dashboard.prune_login_throttle" in live.runtime.jobs.jobs
    for i in range(3):  # guesses at three names leave three name rows and one address row
        data = {"csrf_token": "", "email": f"guess{i}@example.com", "password": "wrong password!"}
        client = requests.Session()
        data["csrf_token"] = _login_form(live, client)
        wait_until(lambda c=client, d=data: c.post(live.dashboard("/login"), data=d).status_code == 401)

    def throttle_rows() -> int:
        with live.runtime.db.session() as session:
            return session.scalar(select(func.count()).select_from(LoginThrottle)) or 0

    assert throttle_rows() == 4
    live.runtime.queue.enqueue("dashboard.prune_login_throttle")  # nothing is spent yet: all stay
    wait_until(lambda: _task_done(live))
    assert throttle_rows() == 4

    def newest_failure() -> datetime:
        with live.runtime.db.session() as session:
            return session.scalar(select(func.max(LoginThrottle.last_failure_at)))

    wait_until(lambda: (datetime.now(UTC) - newest_failure()).total_seconds() > 11)
    live.runtime.queue.enqueue("dashboard.prune_login_throttle")
    wait_until(lambda: throttle_rows() == 0)


def _task_done(live: Live) -> bool:
    with live.runtime.db.session() as session:
        statuses = session.scalars(select(Task.status).where(Task.kind == "dashboard.prune_login_throttle")).all()
    return bool(statuses) and all(status == "done" for status in statuses)
