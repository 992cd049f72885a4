"""Graceful degradation, in process: while the database (or the blob store) is out, every
route that needs it answers 503 ``unavailable`` with ``Retry-After`` — never 500 — and
nothing half-written stays behind; when it comes back, everything answers again.

The outage is real for SQLAlchemy: every new connection fails at the driver (a
``do_connect`` hook raising the driver's ``OperationalError``) and the pool is emptied.
The real-server test through a cut TCP proxy is tests/e2e/test_database_outage.py.
"""

from __future__ import annotations

import errno
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, exc, func, select
from starlette.testclient import TestClient

from hws.api import requests as requests_api
from hws.api.app import create_app
from hws.api.availability import RETRY_AFTER_SECONDS, is_outage
from hws.domain.scopes import ALL_SCOPES
from hws.st96.examples import example_package
from hws.store import imports as import_store
from hws.store.jobs import JobKind
from hws.store.tables import blobs, imports, jobs
from hws.worker import maintenance, runner
from hws.worker.runner import Worker
from tests.conftest import enrol, make_service
from tests.support.jose import claims_for, craft, form

API = "/webservices/api/v1"
ISSUER = "http://hws.test/oauth2"
TOKEN = "/oauth2/access_token"
#: Routes that never touch the database or the blob store: they keep answering.
INDEPENDENT = {
    "/healthz", "/metrics", "/oauth2/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/oauth2", "/oauth2/jwks", "/docs", "/openapi.json",
    f"{API}/schemas/hws-api-v1.xsd",  # the published XSDs: files shipped in the package
}  # fmt: skip


@contextmanager
def database_down(engine: Engine) -> Iterator[None]:
    """Every new connection of ``engine`` fails as a dead server's would; pooled ones are gone."""

    def refuse(*_args: Any) -> None:
        raise sqlite3.OperationalError("unable to open database file (outage simulated by the test)")

    event.listen(engine, "do_connect", refuse)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "do_connect", refuse)


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, worker_threads=0, job_lease_seconds=1)
    client = TestClient(
        create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000), raise_server_exceptions=False
    )
    yield service, client
    client.close()
    service.close()


def token_for(client: TestClient, office: Any) -> str:
    response = client.post(TOKEN, data=form(craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), office.key)))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def every_call(app: Any) -> list[tuple[str, str]]:
    """(method, path) for every operation the app publishes, path parameters filled in."""
    calls = []
    for template, operations in app.openapi()["paths"].items():
        path = re.sub(
            r"\{[^}]+\}",
            lambda m: {"{weekId}": "202401", "{importId}": "x", "{name}": "hws-api-v1.xsd"}.get(m.group(0), "970000001"),
            template,
        )
        calls += [(method.upper(), path) for method in sorted(operations)]
    return calls


def assert_unavailable(response: Any, *, json_wanted: bool = False) -> None:
    assert response.status_code == 503, (response.request.method, response.request.url, response.status_code, response.text[:300])
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    if response.request.method == "HEAD":
        return
    if json_wanted:
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "unavailable" and body["status"] == 503 and body["type"] == "urn:hws:problem:unavailable"
    else:
        assert response.headers["content-type"] == "application/problem+xml"
        assert b"urn:hws:problem:unavailable" in response.content


def test_every_route_answers_503_while_the_database_is_down_then_recovers(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    office = enrol(service, office="KR", scopes=ALL_SCOPES, examining=True)
    bearer = {"Authorization": f"Bearer {token_for(client, office)}"}
    calls = every_call(client.app)
    assert len(calls) > 15 and ("POST", f"{API}/request") in calls

    def call(method: str, path: str, accept: str) -> Any:
        body = {"json": {"reason": "x"}} if method == "POST" and path != f"{API}/request" else {}
        if path == f"{API}/request":
            body = {"content": example_package("application", office="KR")}
        return client.request(
            method,
            path,
            headers={**bearer, "Accept": accept, "Content-Type": "application/zip"}
            if "content" in body
            else {**bearer, "Accept": accept},
            **body,
        )

    with database_down(service.engine):
        answered: dict[int, int] = {}
        for method, path in calls:
            if path in INDEPENDENT:
                assert call(method, path, "*/*").status_code == 200, path
                continue
            if path in (TOKEN, "/readyz"):
                continue  # below: their own JSON, not problem documents
            for accept, json_wanted in (("application/xml", False), ("application/problem+json", True)):
                response = call(method, path, accept)
                assert_unavailable(response, json_wanted=json_wanted)
                answered[response.status_code] = answered.get(response.status_code, 0) + 1

        # The token endpoint answers as RFC 6749 §5.2 does, with a temporary error.
        response = client.post(TOKEN, data=form(craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), office.key)))
        assert response.status_code == 503 and response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert response.headers["content-type"] == "application/json" and response.headers["cache-control"] == "no-store"
        assert response.json()["error"] == "temporarily_unavailable"

        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        assert ready.json()["checks"]["database"]["status"] == "unavailable"
        assert client.get("/healthz").status_code == 200
        assert answered == {503: answered[503]} and answered[503] >= 30

    # Nothing was written; once the database answers, so does everything.
    assert client.get("/readyz").status_code == 200
    assert client.get(f"{API}/pingMe", headers=bearer).status_code == 200
    assert token_for(client, office)
    response = client.post(
        f"{API}/request",
        content=example_package("application", office="KR"),
        headers={**bearer, "Content-Type": "application/zip"},
    )
    assert response.status_code == 202
    with service.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(imports)).scalar_one() == 1


ERRORS_503 = [
    exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("server closed the connection unexpectedly")),
    exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
    exc.InterfaceError("SELECT 1", {}, Exception("connection already closed")),
    exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached, connection timed out"),
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EIO, "Input/output error"),
    ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
]
ERRORS_500 = [
    exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
    OSError(errno.ENOENT, "No such file or directory"),
    ValueError("a bug"),
]


def _psycopg_and_botocore() -> list[BaseException]:
    found: list[BaseException] = []
    try:
        import psycopg

        found.append(psycopg.OperationalError("connection failed: Connection refused"))
    except ImportError:
        pass
    try:
        from botocore.exceptions import ClientError, EndpointConnectionError

        found.append(EndpointConnectionError(endpoint_url="http://127.0.0.1:9/bucket"))
        found.append(ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject"))
    except ImportError:
        pass
    return found


@pytest.mark.parametrize("error", ERRORS_503 + _psycopg_and_botocore(), ids=lambda e: type(e).__name__)
def test_outage_errors_become_503_anywhere(setup, monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    bearer = {"Authorization": f"Bearer {token_for(client, enrol(service))}"}

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise error

    assert is_outage(error)
    monkeypatch.setattr(service.registry, "get", fail)
    assert_unavailable(client.get(f"{API}/pingMe", headers=bearer))
    assert_unavailable(client.get(f"{API}/request/import/x", headers={**bearer, "Accept": "application/json"}), json_wanted=True)
    # Wrapped by a store (``raise StoreError(...) from error``) it still counts.
    wrapped = RuntimeError("blob store failed")
    wrapped.__cause__ = error
    assert is_outage(wrapped)


@pytest.mark.parametrize("error", ERRORS_500, ids=lambda e: type(e).__name__)
def test_other_errors_stay_500(setup, monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    bearer = {"Authorization": f"Bearer {token_for(client, enrol(service))}"}

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise error

    assert not is_outage(error)
    monkeypatch.setattr(service.registry, "get", fail)
    response = client.get(f"{API}/pingMe", headers=bearer)
    assert response.status_code == 500 and "retry-after" not in response.headers
    assert b"urn:hws:problem:internal-error" in response.content


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (imports, jobs, blobs))  # type: ignore[return-value]


def test_upload_whose_rows_cannot_be_committed_answers_503_and_leaves_only_an_unreferenced_blob(
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    bearer = {"Authorization": f"Bearer {token_for(client, enrol(service))}", "Content-Type": "application/zip"}
    real = requests_api.record_receipt
    down: list[Any] = []

    def database_dies_now(*args: Any, **kwargs: Any) -> Any:
        down.append(database_down(service.engine))
        down[-1].__enter__()  # the blob is durable; the database goes before its rows are committed
        return real(*args, **kwargs)

    monkeypatch.setattr(requests_api, "record_receipt", database_dies_now)
    package = example_package("application", office="KR")
    response = client.post(f"{API}/request", content=package, headers=bearer)
    assert_unavailable(response)
    down[-1].__exit__(None, None, None)
    monkeypatch.undo()

    # Nothing half-written: no import, no job, no blob row; only the blob file, which the sweep removes.
    assert _counts(service.engine) == (0, 0, 0)
    files = list(service.blobs.list_blobs())
    assert len(files) == 1 and list((service.settings.blobs_dir / "tmp").iterdir()) == []
    assert maintenance.sweep_orphans(service, grace=0)["blobs"] == 1
    assert list(service.blobs.list_blobs()) == []
    # Retried, it is received normally.
    assert client.post(f"{API}/request", content=package, headers=bearer).status_code == 202
    assert _counts(service.engine) == (1, 1, 1)


@pytest.mark.parametrize("where", ["write", "commit"])
def test_blob_store_failure_answers_503_and_stores_nothing(setup, monkeypatch: pytest.MonkeyPatch, where: str) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    bearer = {"Authorization": f"Bearer {token_for(client, enrol(service))}", "Content-Type": "application/zip"}
    make_writer = service.blobs.writer

    def failing_writer() -> Any:
        writer = make_writer()
        real = getattr(writer, where)

        def fail(*args: Any) -> Any:
            if where == "write":
                raise OSError(errno.ENOSPC, "No space left on device")
            real(*args)  # the file is renamed into place …
            raise OSError(errno.EIO, "Input/output error")  # … but the directory fsync fails

        monkeypatch.setattr(writer, where, fail)
        return writer

    monkeypatch.setattr(service.blobs, "writer", failing_writer)
    response = client.post(f"{API}/request", content=example_package("application", office="KR"), headers=bearer)
    assert_unavailable(response)
    assert b"storage" in response.content
    assert _counts(service.engine) == (0, 0, 0)
    assert list((service.settings.blobs_dir / "tmp").iterdir()) == []


def test_token_endpoint_other_errors_are_not_disguised(setup, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    office = enrol(service)

    def bug(*_args: Any, **_kwargs: Any) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(service.tokens, "grant_async", bug)
    response = client.post(TOKEN, data=form(craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), office.key)))
    assert response.status_code == 500


# --- the worker --------------------------------------------------------------------------


def _job(service: Any) -> dict[str, Any]:
    with service.engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.kind == JobKind.IMPORT)).one()
    return dict(row._mapping)


def test_outage_while_processing_does_not_fail_the_job_and_its_lease_brings_it_back(
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    bearer = {"Authorization": f"Bearer {token_for(client, enrol(service))}", "Content-Type": "application/zip"}
    location = client.post(f"{API}/request", content=example_package("application", office="KR"), headers=bearer).headers[
        "location"
    ]
    import_id = location.rsplit("/", 1)[1]
    real = runner.HANDLERS[JobKind.IMPORT]
    outage = database_down(service.engine)

    def database_dies_mid_job(svc: Any, job: Any) -> Any:
        outage.__enter__()
        return real(svc, job)

    monkeypatch.setitem(runner.HANDLERS, JobKind.IMPORT, database_dies_mid_job)
    worker = Worker(service)
    with pytest.raises(exc.OperationalError):
        worker.run_once()  # the worker loop backs off on it (below)
    outage.__exit__(None, None, None)
    monkeypatch.undo()

    job = _job(service)
    assert job["status"] == "running" and job["last_error"] is None and job["attempts"] == 1  # not failed, not dead
    assert import_store.get(service.engine, import_id).status == "Pending"
    assert worker.run_once() is False  # its lease still runs
    time.sleep(1.1)
    assert worker.run_once() is True  # retaken after the lease
    job = _job(service)
    assert job["status"] == "done" and job["last_error"] is None
    assert import_store.get(service.engine, import_id).status == "Imported"


def test_worker_loop_waits_out_an_outage_and_resumes(setup, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    bearer = {"Authorization": f"Bearer {token_for(client, enrol(service))}", "Content-Type": "application/zip"}
    stop = threading.Event()
    caplog.set_level("INFO", logger="hws.worker")
    with database_down(service.engine):
        thread = threading.Thread(target=Worker(service).run_until, args=(stop,), daemon=True)
        thread.start()
        time.sleep(2.0)
        events = [getattr(r, "event", None) for r in caplog.records]
        assert events.count("worker.unavailable") == 1  # logged once per outage, not per retry
        assert "worker.error" not in events
    location = client.post(f"{API}/request", content=example_package("application", office="KR"), headers=bearer).headers[
        "location"
    ]
    try:
        deadline = time.monotonic() + 10
        while import_store.get(service.engine, location.rsplit("/", 1)[1]).status == "Pending":
            assert time.monotonic() < deadline, "the worker did not resume"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
    assert "worker.recovered" in [getattr(r, "event", None) for r in caplog.records]
