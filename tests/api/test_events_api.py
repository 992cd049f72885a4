"""``GET /events``: pages in order, the acknowledgement kept per client, one office's
events only, 400 for a cursor that is not one, 410 past retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.domain.events import EventType
from hws.service import Service
from hws.store import events as event_store
from tests.api.test_requests import bearer
from tests.conftest import enrol, make_service

API = "/webservices/api/v1"
JSON = {"Accept": "application/json"}


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Service, TestClient]]:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, scheduler=False)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    yield service, client
    client.close()
    service.close()


def _record(service: Service, office: str, subject: str) -> None:
    with service.engine.begin() as conn:
        event_store.record(
            conn, office=office, type=EventType.IMPORT_ACCEPTED, subject=subject, data={"importId": subject},
            time=service.clock.now(), now=service.clock.now(),
        )  # fmt: skip


def test_pages_acknowledgement_and_one_office(setup: tuple[Service, TestClient]) -> None:
    service, client = setup
    kr = {**bearer(client, enrol(service, office="KR")), **JSON}
    us = {**bearer(client, enrol(service, office="US")), **JSON}
    for office, subject in (("KR", "k1"), ("US", "u1"), ("KR", "k2"), ("KR", "k3")):
        _record(service, office, subject)
    first = client.get(f"{API}/events", params={"limit": 2}, headers=kr)
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert [e["subject"] for e in body["events"]] == ["k1", "k2"] and body["more"] and body["cursor"] == "2"
    assert {e["hwsoffice"] for e in body["events"]} == {"KR"} and body["events"][0]["specversion"] == "1.0"
    rest = client.get(f"{API}/events", params={"after": body["cursor"]}, headers=kr).json()  # acknowledges 2
    assert [e["subject"] for e in rest["events"]] == ["k3"] and not rest["more"] and rest["cursor"] == "3"
    again = client.get(f"{API}/events", headers=kr).json()  # no cursor: from the acknowledgement
    assert [e["subject"] for e in again["events"]] == ["k3"]
    assert [e["subject"] for e in client.get(f"{API}/events", headers=us).json()["events"]] == ["u1"]
    empty = client.get(f"{API}/events", params={"after": "3", "wait": 0}, headers=kr).json()
    assert empty == {"events": [], "cursor": "3", "more": False}


def test_a_cursor_that_is_not_one_is_400_and_one_past_retention_410(setup: tuple[Service, TestClient]) -> None:
    service, client = setup
    kr = {**bearer(client, enrol(service, office="KR")), **JSON}
    _record(service, "KR", "k1")
    _record(service, "KR", "k2")
    for cursor in ("abc", "-1", "99"):
        answer = client.get(f"{API}/events", params={"after": cursor}, headers=kr)
        assert answer.status_code == 400 and answer.json()["type"] == "urn:hws:problem:invalid-request", cursor
    assert event_store.prune(service.engine, service.clock.now() + timedelta(days=1)) == 2
    gone = client.get(f"{API}/events", params={"after": "0"}, headers=kr)
    assert gone.status_code == 410 and gone.headers["content-type"].startswith("application/problem+json")
    assert gone.json()["type"] == "urn:hws:problem:cursor-expired"
    _record(service, "KR", "k3")
    assert [e["hwssequence"] for e in client.get(f"{API}/events", params={"after": "2"}, headers=kr).json()["events"]] == [3]


def test_the_feed_needs_a_token(setup: tuple[Service, TestClient]) -> None:
    _, client = setup
    assert client.get(f"{API}/events").status_code == 401
    assert client.get(f"{API}/webhooks").status_code == 401
