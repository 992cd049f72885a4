"""The console in process: the app over a fresh service, and browsers-without-a-browser
(Starlette's TestClient) signed in as operators of each role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.auth import one_time_codes, passwords
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.usecases.operator_accounts import OperatorAccounts
from tests.conftest import make_service

BASE = "http://hws.test"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    """A TestClient signed in as ``name`` (role ``role``); ``csrf`` is its session's token."""

    client: TestClient
    name: str
    role: Role
    csrf: str

    def get(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.get(path, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        """A form post with this session's CSRF token (unless ``data`` names its own)."""
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf_token in the page"
    return found.group(1)


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost in these in-process tests (a sign-in each); the service's
    own parameters are checked in tests/auth/test_passwords.py, and the end-to-end tests
    run them."""
    monkeypatch.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def console_service(tmp_path: Path, sqlite_url: str) -> Iterator[Service]:
    service = make_service(tmp_path, sqlite_url, worker_threads=0)
    yield service
    service.close()


def sign_in(service: Service, name: str, role: Role, *, password: str = PASSWORD) -> Console:
    """A new operator ``name`` signed in through the pages (password, then TOTP set-up)."""
    accounts = OperatorAccounts(service)
    if accounts.get(name) is None:
        accounts.add(name, role, password, actor="test")
    client = TestClient(create_app(service), base_url=BASE, client=("127.0.0.1", 50000), follow_redirects=False)
    page = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in", data={"name": name, "password": password, "csrf_token": csrf_of(page.text), "next": ""}
    )
    assert response.status_code == 303, response.text
    setup = client.get("/console/sign-in/totp-setup")
    if setup.status_code == 200:
        secret = re.search(r'data-secret="([A-Z2-7]+)"', setup.text)
        assert secret
        code = one_time_codes.code_at(secret.group(1), service.clock.now())
        done = client.post("/console/sign-in/totp-setup", data={"code": code, "csrf_token": csrf_of(setup.text)})
        assert done.status_code == 303, done.text
    home = client.get("/console/")
    assert home.status_code == 200, home.text
    return Console(client, name, role, csrf_of(home.text))


@pytest.fixture
def signed_in(console_service: Service) -> Iterator[Callable[[Role], Console]]:
    """``signed_in(Role.EXAMINER)``: a console session of a new operator with that role."""
    made: list[Console] = []

    def make(role: Role, name: str | None = None) -> Console:
        console = sign_in(console_service, name or f"{role.value}-{len(made)}", role)
        made.append(console)
        return console

    yield make
    for console in made:
        console.client.close()
