"""An in-process app for the token endpoint rules; the peer address is chosen per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hws.api import oauth
from hws.api.app import create_app
from hws.service import Service
from tests.conftest import Office, enrol, make_service

ISSUER = "http://hws.test/oauth2"
TOKEN_ENDPOINT = "http://hws.test/oauth2/access_token"
API = "/webservices/api/v1"


@pytest.fixture(params=["stack", "fast-path"])
def make_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., TestClient]]:
    """Every rule is checked twice: with the token endpoint inside the app's middleware
    stack, and answered ahead of it (``oauth.install``)."""
    clients: list[TestClient] = []

    def build(service: Service, peer: str = "127.0.0.1") -> TestClient:
        app = create_app(service)
        if request.param == "fast-path":
            oauth.install(app)
        client = TestClient(app, base_url="http://hws.test", client=(peer, 50000))
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def auth_service(tmp_path: Path, sqlite_url: str) -> Iterator[Service]:
    service = make_service(tmp_path, sqlite_url)
    yield service
    service.close()


@pytest.fixture
def office(auth_service: Service) -> Office:
    return enrol(auth_service, office="KR", networks=("127.0.0.1/32", "192.0.2.0/24"))


@pytest.fixture
def http(auth_service: Service, make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(auth_service)


def post_token(http: TestClient, data: dict[str, str], **kwargs: Any):  # type: ignore[no-untyped-def]
    return http.post("/oauth2/access_token", data=data, **kwargs)
