"""The operator API (scope hws/admin): examination actions over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.st96.examples import example_package
from hws.worker.runner import Worker
from tests.api.test_requests import bearer, submit
from tests.conftest import enrol, make_service

API = "/webservices/api/v1"


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, worker_threads=0)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    office = bearer(client, enrol(service, office="KR"))
    operator = bearer(client, enrol(service, office="IB", scopes=["hws/admin"]))
    submit(client, office, example_package("application", office="KR"))
    worker = Worker(service)
    while worker.run_once():
        pass
    yield client, office, operator
    client.close()
    service.close()


def test_operator_walks_the_life_cycle(setup) -> None:  # type: ignore[no-untyped-def]
    client, office, operator = setup
    listed = client.get(f"{API}/admin/requests", params={"status": "Undefined"}, headers=operator).json()
    assert [r["srn"] for r in listed] == ["970000001"]
    steps = [
        ("take-up", None, "Processing"),
        ("irregularity", {"reason": "reproduction unclear"}, "Pending Regularization"),
        ("regularization", {"reason": "new reproduction"}, "Processing"),
        ("registration", None, "Registered"),
    ]
    for action, body, status in steps:
        response = client.post(f"{API}/admin/requests/970000001/{action}", json=body, headers=operator)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    shown = client.get(f"{API}/admin/requests/970000001", headers=operator).json()
    assert shown["irn"] == "DM/200001" and len(shown["history"]) == 5
    assert shown["history"][1]["actor"].startswith("client:")
    # the office sees the new status through its own endpoint
    status = client.get(f"{API}/request/970000001", headers=office)
    assert b"<hws:ProcessingStatusCategory>Registered</hws:ProcessingStatusCategory>" in status.content
    assert b"<com:InternationalRegistrationNumber>DM/200001</com:InternationalRegistrationNumber>" in status.content
    assert b"<com:PublicationDate>" in status.content


def test_forbidden_transition_is_422(setup) -> None:  # type: ignore[no-untyped-def]
    client, _office, operator = setup
    response = client.post(f"{API}/admin/requests/970000001/registration", headers=operator)
    assert response.status_code == 422 and b"cannot become" in response.content
    assert client.post(f"{API}/admin/requests/970999999/take-up", headers=operator).status_code == 404
    assert client.post(f"{API}/admin/requests/970000001/cancellation", json={}, headers=operator).status_code == 400


def test_offices_cannot_examine(setup) -> None:  # type: ignore[no-untyped-def]
    client, office, _operator = setup
    assert client.post(f"{API}/admin/requests/970000001/take-up", headers=office).status_code == 403
    assert client.get(f"{API}/admin/requests", headers=office).status_code == 403
