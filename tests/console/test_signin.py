"""Signing in to the console in process: the forms, their CSRF tokens, the cookies'
flags, lock-out, open-redirect refusal, the security headers, role checks and timeouts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.auth import one_time_codes
from hws.console.headers import CONTENT_SECURITY_POLICY
from hws.domain.clock import FixedClock
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.store import audit
from hws.usecases.operator_accounts import OperatorAccounts
from tests.conftest import make_service
from tests.console.conftest import BASE, PASSWORD, Console, csrf_of


def _client(service: Service, base_url: str = BASE) -> TestClient:
    return TestClient(create_app(service), base_url=base_url, client=("127.0.0.1", 50000), follow_redirects=False)


def _post_sign_in(client: TestClient, name: str, password: str, next_path: str = "") -> object:
    page = client.get("/console/sign-in")
    return client.post(
        "/console/sign-in", data={"name": name, "password": password, "csrf_token": csrf_of(page.text), "next": next_path}
    )


def test_pages_need_a_session_and_come_back_after_sign_in(console_service: Service) -> None:
    client = _client(console_service)
    for path in ("/console/", "/console/account?tab=sessions", "/console/operators"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/sign-in?next=%2Fconsole%2F")
    assert client.get("/").headers["location"] == "/console/"


def test_security_headers_on_every_console_response(console_service: Service) -> None:
    client = _client(console_service)
    for path in ("/console/sign-in", "/console/", "/console/static/console.css"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert client.get("/console/sign-in").headers["cache-control"] == "no-store"
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    page = client.get("/console/sign-in").text
    assert "<script>" not in page and " style=" not in page and "onclick" not in page  # nothing inline
    # the API keeps its own headers (no CSP added to API responses)
    assert "content-security-policy" not in client.get("/healthz").headers


def test_session_cookie_flags(console_service: Service) -> None:
    OperatorAccounts(console_service).add("ana", Role.VIEWER, PASSWORD, actor="test", totp_required=False)
    response = _post_sign_in(_client(console_service), "ana", PASSWORD)
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("hws_console="))  # type: ignore[attr-defined]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= flags and "samesite=strict" in cookie.lower() and "Path=/console" in cookie
    assert "secure" not in flags  # plain http here


def test_secure_cookies_when_served_over_https(tmp_path: Path, sqlite_url: str) -> None:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, public_url="https://hws.test")
    try:
        OperatorAccounts(service).add("ana", Role.VIEWER, PASSWORD, actor="test", totp_required=False)
        response = _post_sign_in(_client(service, "https://hws.test"), "ana", PASSWORD)
        cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]  # type: ignore[attr-defined]
        assert cookies and all("; secure" in c.lower() for c in cookies)
    finally:
        service.close()


def test_sign_in_form_needs_its_csrf_token(console_service: Service) -> None:
    OperatorAccounts(console_service).add("ana", Role.VIEWER, PASSWORD, actor="test", totp_required=False)
    client = _client(console_service)
    client.get("/console/sign-in")
    forged = client.post("/console/sign-in", data={"name": "ana", "password": PASSWORD, "csrf_token": "guess"})
    assert forged.status_code == 403 and "hws_console=" not in forged.headers.get("set-cookie", "")
    other = _client(console_service)  # a form from another browser (its token, not this cookie)
    token = csrf_of(other.get("/console/sign-in").text)
    assert client.post("/console/sign-in", data={"name": "ana", "password": PASSWORD, "csrf_token": token}).status_code == 403


def test_wrong_password_and_lock_out_are_told_plainly(tmp_path: Path, sqlite_url: str) -> None:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, console_max_failures=2)
    try:
        OperatorAccounts(service).add("ana", Role.VIEWER, PASSWORD, actor="test", totp_required=False)
        client = _client(service)
        wrong = _post_sign_in(client, "ana", "not the right password")
        assert wrong.status_code == 401 and "the name or the password is not right" in wrong.text  # type: ignore[attr-defined]
        assert 'value="ana"' in wrong.text  # type: ignore[attr-defined]
        _post_sign_in(client, "ana", "not the right password")
        locked = _post_sign_in(client, "ana", PASSWORD)
        assert locked.status_code == 401 and "locked" in locked.text  # type: ignore[attr-defined]
    finally:
        service.close()


@pytest.mark.parametrize(
    "next_path", ["https://evil.test/", "//evil.test/console/", "/console\\..\\evil", "/elsewhere", "javascript:alert(1)"]
)
def test_no_open_redirect_after_sign_in(console_service: Service, next_path: str) -> None:
    OperatorAccounts(console_service).add("ana", Role.VIEWER, PASSWORD, actor="test", totp_required=False)
    response = _post_sign_in(_client(console_service), "ana", PASSWORD, next_path)
    assert response.headers["location"] == "/console/"  # type: ignore[attr-defined]


def test_next_path_within_the_console_is_kept(console_service: Service) -> None:
    OperatorAccounts(console_service).add("ana", Role.VIEWER, PASSWORD, actor="test", totp_required=False)
    response = _post_sign_in(_client(console_service), "ana", PASSWORD, "/console/audit?actor=x")
    assert response.headers["location"] == "/console/audit?actor=x"  # type: ignore[attr-defined]


def test_totp_set_up_then_code_through_the_pages(console_service: Service) -> None:
    OperatorAccounts(console_service).add("ana", Role.EXAMINER, PASSWORD, actor="test")
    client = _client(console_service)
    first = _post_sign_in(client, "ana", PASSWORD)
    assert first.headers["location"].startswith("/console/sign-in/totp-setup")  # type: ignore[attr-defined]
    assert client.get("/console/").headers["location"].startswith("/console/sign-in/totp-setup")  # not in yet
    setup = client.get("/console/sign-in/totp-setup")
    secret = setup.text.split('data-secret="')[1].split('"')[0]
    assert "otpauth://totp/" in setup.text
    bad = client.post("/console/sign-in/totp-setup", data={"code": "000000", "csrf_token": csrf_of(setup.text)})
    assert bad.status_code in (303, 401)
    good = client.post(
        "/console/sign-in/totp-setup",
        data={"code": one_time_codes.code_at(secret, console_service.clock.now()), "csrf_token": csrf_of(setup.text)},
    )
    assert good.status_code == 303 and client.get("/console/").status_code == 200


def test_viewer_sees_no_operator_admin_and_is_refused_by_hand(
    console_service: Service, signed_in: Callable[[Role], Console]
) -> None:
    viewer = signed_in(Role.VIEWER)
    assert "/console/operators" not in viewer.get("/console/").text  # not in the menu
    assert viewer.get("/console/operators").status_code == 403
    for path, data in [
        ("/console/operators", {"name": "mallory", "role": "administrator", "password": PASSWORD}),
        (f"/console/operators/{viewer.name}/role", {"role": "administrator"}),
        (f"/console/operators/{viewer.name}/reset", {"password": PASSWORD + "x"}),
    ]:
        response = viewer.post(path, data)
        assert response.status_code == 403, path
        assert "needs the administrator role" in response.text
    accounts = OperatorAccounts(console_service)
    assert accounts.get("mallory") is None and accounts.get(viewer.name).role is Role.VIEWER  # type: ignore[union-attr]
    refused = audit.query(console_service.engine, action="console.refused", limit=10)
    assert len(refused) >= 4 and all(e["actor"] == f"operator:{viewer.name}" and e["source"] == "127.0.0.1" for e in refused)


def test_forged_post_without_or_with_a_wrong_csrf_token_is_refused(
    console_service: Service, signed_in: Callable[[Role], Console]
) -> None:
    admin = signed_in(Role.ADMINISTRATOR)
    data = {"name": "mallory", "role": "administrator", "password": PASSWORD}
    assert admin.client.post("/console/operators", data=data).status_code == 403
    assert admin.client.post("/console/operators", data={**data, "csrf_token": "x" * 43}).status_code == 403
    other = signed_in(Role.ADMINISTRATOR)  # another session's token is not this one's
    assert admin.client.post("/console/operators", data={**data, "csrf_token": other.csrf}).status_code == 403
    cross = admin.client.post(
        "/console/operators", data={**data, "csrf_token": admin.csrf}, headers={"Origin": "https://evil.test"}
    )
    assert cross.status_code == 403
    assert OperatorAccounts(console_service).get("mallory") is None
    made = admin.post("/console/operators", data)
    assert made.status_code == 303 and OperatorAccounts(console_service).get("mallory") is not None


def test_administrator_manages_operators(console_service: Service, signed_in: Callable[[Role], Console]) -> None:
    admin = signed_in(Role.ADMINISTRATOR)
    assert admin.post("/console/operators", {"name": "bea", "role": "viewer", "password": "short"}).status_code == 422
    assert (
        admin.post("/console/operators", {"name": "bea", "role": "viewer", "password": PASSWORD, "totp": "1"}).status_code == 303
    )
    assert admin.post("/console/operators/bea/role", {"role": "examiner"}).status_code == 303
    assert admin.post("/console/operators/bea/disable").status_code == 303
    page = admin.get("/console/operators")
    assert "bea" in page.text and "disabled" in page.text
    assert admin.post(f"/console/operators/{admin.name}/disable").status_code == 422  # not oneself
    events = audit.query(console_service.engine, actor=f"operator:{admin.name}", limit=20)
    assert {"operator.added", "operator.role-changed", "operator.disabled"} <= {e["action"] for e in events}
    assert all(e["source"] == "127.0.0.1" for e in events if e["action"].startswith("operator."))


def test_sign_out_and_sign_out_everywhere(console_service: Service, signed_in: Callable[[Role], Console]) -> None:
    one = signed_in(Role.VIEWER, "ana")  # type: ignore[call-arg]
    response = one.post("/console/sign-out")
    assert response.status_code == 303 and one.get("/console/").status_code == 303
    two = signed_in(Role.VIEWER, "bea")  # type: ignore[call-arg]
    three = TestClient(two.client.app, base_url=BASE, follow_redirects=False)
    three.cookies.update(two.client.cookies)  # the same session in a second browser tab
    assert three.get("/console/account").status_code == 200
    assert two.post("/console/sign-out-everywhere").status_code == 303
    assert three.get("/console/account").status_code == 303


def test_session_times_out_when_idle(tmp_path: Path, sqlite_url: str) -> None:
    clock = FixedClock(datetime(2026, 12, 28, 8, 0, tzinfo=UTC).timestamp())  # week 53 of 2026
    service = make_service(tmp_path, sqlite_url, clock=clock, worker_threads=0, console_idle_timeout=300)
    try:
        OperatorAccounts(service).add("ana", Role.VIEWER, PASSWORD, actor="test", totp_required=False)
        client = _client(service)
        _post_sign_in(client, "ana", PASSWORD)
        assert client.get("/console/account").status_code == 200
        clock.advance(299)
        assert client.get("/console/account").status_code == 200
        clock.advance(301)
        expired = client.get("/console/account")
        assert expired.status_code == 303 and expired.headers["location"].startswith("/console/sign-in")
    finally:
        service.close()


def test_sign_in_attempts_are_rate_limited_per_address(tmp_path: Path, sqlite_url: str) -> None:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, console_sign_in_rate_per_minute=6, console_max_failures=100)
    try:
        OperatorAccounts(service).add("ana", Role.VIEWER, PASSWORD, actor="test", totp_required=False)
        client = _client(service)
        statuses = [_post_sign_in(client, "ana", "wrong password here").status_code for _ in range(3)]  # type: ignore[attr-defined]
        assert statuses == [401, 401, 429]  # a burst of 2 (6 a minute / 3)
        limited = _post_sign_in(client, "ana", PASSWORD)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1  # type: ignore[attr-defined]
        assert "Too many sign-in attempts" in limited.text  # type: ignore[attr-defined]
        elsewhere = TestClient(create_app(service), base_url=BASE, client=("192.0.2.50", 50000), follow_redirects=False)
        assert _post_sign_in(elsewhere, "ana", PASSWORD).status_code == 303  # type: ignore[attr-defined]
    finally:
        service.close()
