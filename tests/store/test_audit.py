"""The audit log: append-only on both databases; every kind of event recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hws.api.app import create_app
from hws.cli.main import app as cli
from hws.domain.clock import SystemClock
from hws.st96.examples import example_package
from hws.store import audit
from tests.api.test_requests import bearer, drain, submit
from tests.conftest import enrol, make_service


def test_append_only(tmp_path: Path, database_url: str) -> None:
    service = make_service(tmp_path, database_url)
    try:
        with service.engine.begin() as conn:
            audit.record(conn, audit.AuditEvent(at=SystemClock().now(), actor="x", action="test"))
        for statement in ("UPDATE audit_events SET actor = 'y'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError), service.engine.begin() as conn:
                conn.execute(text(statement))
        assert [e["actor"] for e in audit.query(service.engine)] == ["x"]
    finally:
        service.close()


def test_every_kind_of_event_is_recorded(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, scheduler=False)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    office = enrol(service, office="KR")
    headers = bearer(client, office)
    client.post(
        "/oauth2/access_token", data={"grant_type": "client_credentials", "client_assertion_type": "x", "client_assertion": "y"}
    )
    client.post(
        "/oauth2/access_token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "garbage",
        },
    )
    submit(client, headers, example_package("application", office="KR"))
    drain(service)
    from hws.usecases.examination import Examiner

    Examiner(service).take_up("970000001", actor="op:anna", reason="looked at it")
    service.audit.flush()
    events = audit.query(service.engine, limit=1000)
    actions = {(e["action"], e["outcome"]) for e in events}
    assert {("auth.token", "issued"), ("auth.token", "refused"), ("request.submitted", "ok"), ("import.imported", "ok"),
            ("sr.transition", "ok")} <= actions  # fmt: skip
    submitted = next(e for e in events if e["action"] == "request.submitted")
    assert submitted["actor"] == office.client_id and submitted["office"] == "KR" and submitted["source"] == "127.0.0.1"
    refused = next(e for e in events if e["outcome"] == "refused")
    assert refused["source"] == "127.0.0.1" and refused["detail"]["error"] == "invalid_client"
    transition = next(e for e in events if e["action"] == "sr.transition")
    assert transition["actor"] == "op:anna" and transition["detail"] == {
        "from": "Undefined",
        "to": "Processing",
        "reason": "looked at it",
    }
    assert all("eyJ" not in json.dumps(e) for e in events)  # no tokens or assertions in the log
    client.close()
    service.close()

    monkeypatch.setenv("HWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HWS_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(cli, ["admin", "audit", "--action", "auth.*", "--json"])
    assert result.exit_code == 0, result.output
    assert {e["action"] for e in json.loads(result.stdout)} == {"auth.token"}
    table = CliRunner().invoke(cli, ["admin", "audit", "--since", "1h"])
    assert table.exit_code == 0 and "actor" in table.output
