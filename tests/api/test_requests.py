"""POST /request, import status and service-request status, in process.

The worker is run by hand (``Worker.run_once``) so each test controls when validation
happens. The real-server flows are in tests/e2e.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.st96 import safexml
from hws.st96.api_documents import schema
from hws.st96.examples import example_package
from hws.store import imports as import_store
from hws.worker.runner import Worker
from tests.conftest import enrol, make_service
from tests.support.jose import claims_for, craft, form

API = "/webservices/api/v1"
ISSUER = "http://hws.test/oauth2"


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, worker_threads=0, max_package_bytes=2 * 1024 * 1024)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    yield service, client
    client.close()
    service.close()


def bearer(client: TestClient, office) -> dict[str, str]:  # type: ignore[no-untyped-def]
    token = client.post(
        "/oauth2/access_token", data=form(craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), office.key))
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def submit(client: TestClient, headers: dict[str, str], body: bytes, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(f"{API}/request", content=body, headers={**headers, "Content-Type": "application/zip", **extra})


def valid_xml(response) -> None:  # type: ignore[no-untyped-def]
    schema("hws-api-v1.xsd").assertValid(safexml.parse(response.content))


def drain(service) -> None:  # type: ignore[no-untyped-def]
    worker = Worker(service)
    while worker.run_once():
        pass


def test_submit_then_imported(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service, office="KR"))
    package = example_package("application", office="KR")
    response = submit(client, headers, package)
    assert response.status_code == 202, response.text
    valid_xml(response)
    assert b"<hws:ImportStatusCategory>Pending</hws:ImportStatusCategory>" in response.content
    assert response.headers["retry-after"] == "2"
    location = response.headers["location"]
    assert location.startswith("http://hws.test/webservices/api/v1/request/import/")
    # Durable before 202: the blob is on disk under its sha256 and the row exists.
    digest = hashlib.sha256(package).hexdigest()
    assert service.blobs.exists(digest)
    import_id = location.rsplit("/", 1)[1]
    assert import_store.get(service.engine, import_id).status == "Pending"

    drain(service)
    status = client.get(location, headers=headers)
    assert status.status_code == 200
    valid_xml(status)
    srn = re.search(rb"<com:RecordIdentifier>(\d+)</com:RecordIdentifier>", status.content).group(1).decode()
    assert srn == "970000001"
    assert b"Imported" in status.content and "retry-after" not in status.headers
    assert client.get(location, headers={**headers, "If-None-Match": status.headers["etag"]}).status_code == 304

    sr = client.get(f"{API}/request/{srn}", headers=headers)
    assert sr.status_code == 200
    valid_xml(sr)
    assert b"<hws:ProcessingStatusCategory>Undefined</hws:ProcessingStatusCategory>" in sr.content
    assert import_id.encode() in sr.content
    assert client.get(f"{API}/request/{srn}", headers={**headers, "If-None-Match": sr.headers["etag"]}).status_code == 304


def test_stored_bibliographic_data_and_files(setup) -> None:  # type: ignore[no-untyped-def]
    from hws.store import service_requests as sr_store

    service, client = setup
    headers = bearer(client, enrol(service, office="KR"))
    submit(client, headers, example_package("application", office="KR"))
    drain(service)
    sr = sr_store.get(service.engine, "970000001")
    assert sr.transaction == "HagueApplication" and sr.office == "KR" and sr.office_reference
    assert sr.data["designs"] and sr.data["designs"][0]["views"]
    assert sorted(sr_store.designations(service.engine, sr.srn)) == sorted(sr.data["designated_offices"])
    files = sr_store.files(service.engine, sr.srn)
    assert any(f.kind == "ST96_XML" for f in files) and any(f.media_type == "image/jpeg" for f in files)
    for f in files:  # kept inside the stored package, not copied out: read back whole from it
        assert not service.blobs.exists(f.sha256)
        assert service.files.locate(f.sha256) is not None
        with service.files.open(f.sha256) as handle:
            data = handle.read()
        assert len(data) == f.size and hashlib.sha256(data).hexdigest() == f.sha256
    assert [e["to"] for e in sr_store.history(service.engine, sr.srn)] == ["Undefined"]


@pytest.mark.parametrize("kind", ["refusal", "grant", "division", "invalidation"])
def test_decisions_are_imported_with_their_target(setup, kind: str) -> None:  # type: ignore[no-untyped-def]
    from hws.store import service_requests as sr_store

    service, client = setup
    headers = bearer(client, enrol(service, office="US"))
    assert submit(client, headers, example_package(kind, office="US")).status_code == 202
    drain(service)
    sr = sr_store.get(service.engine, "970000001")
    assert sr is not None and sr.target_irn and re.match(r"^DM/\d{6}$", sr.target_irn)


def test_multipart_with_one_file(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service))
    response = client.post(
        f"{API}/request",
        files={"file": ("pkg.zip", example_package("application", office="KR"), "application/zip")},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    two = client.post(f"{API}/request", files=[("a", ("a.zip", b"x")), ("b", ("b.zip", b"y"))], headers=headers)
    assert two.status_code == 400 and b"exactly one file" in two.content
    none = client.post(
        f"{API}/request",
        data={"field": "value"},
        files={},
        headers={**headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert none.status_code == 400


def test_rejected_package_lists_every_problem(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service, office="KR"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", "<a/>")
        archive.writestr("b.xml", "<b/>")
        archive.writestr("../evil.pdf", "%PDF-1.4")
    location = submit(client, headers, buffer.getvalue()).headers["location"]
    drain(service)
    status = client.get(location, headers=headers)
    valid_xml(status)
    codes = set(re.findall(rb"<hws:Code>([^<]+)</hws:Code>", status.content))
    assert b"Rejected" in status.content
    assert {b"package-several-xml", b"zip-entry-traversal"} <= codes
    assert b"<hws:EntryName>../evil.pdf</hws:EntryName>" in status.content


def test_office_mismatch_is_rejected(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service, office="US"))
    location = submit(client, headers, example_package("application", office="KR")).headers["location"]
    drain(service)
    assert b"office-code-mismatch" in client.get(location, headers=headers).content


def test_too_large_is_refused_before_storing(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service))
    big = b"\0" * (2 * 1024 * 1024 + 1)
    response = submit(client, headers, big)
    assert response.status_code == 413
    # Without Content-Length (chunked), the stream is cut at the limit too.
    chunked = client.post(
        f"{API}/request",
        content=iter([b"\0" * 65536] * 40),
        headers={**headers, "Content-Type": "application/zip"},
    )
    assert chunked.status_code == 413
    assert list(service.blobs.list_blobs()) == []
    assert list((service.settings.blobs_dir / "tmp").iterdir()) == []


def test_content_digest(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service))
    package = example_package("application", office="KR")
    good = base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert submit(client, headers, package, **{"Content-Digest": f"sha-256=:{good}:"}).status_code == 202
    bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    response = submit(client, headers, package + b"\0", **{"Content-Digest": f"sha-512=:AAAA:, sha-256=:{bad}:"})
    assert response.status_code == 400 and b"digest-mismatch" in response.content
    assert submit(client, headers, package, **{"Content-Digest": "sha-256=nonsense"}).status_code == 400
    assert list((service.settings.blobs_dir / "tmp").iterdir()) == []


def test_idempotency_key(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    office = enrol(service)
    headers = bearer(client, office)
    package = example_package("application", office="KR")
    first = submit(client, headers, package, **{"Idempotency-Key": "abc-1"})
    again = submit(client, headers, package, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 202
    assert first.headers["location"] == again.headers["location"]
    other = submit(client, headers, package + b"\0", **{"Idempotency-Key": "abc-1"})
    assert other.status_code == 422 and b"idempotency-key-reused" in other.content
    # Keys are per client: another client's same key is a new import.
    second_office = enrol(service, office="KR")
    fresh = submit(client, bearer(client, second_office), package, **{"Idempotency-Key": "abc-1"})
    assert fresh.headers["location"] != first.headers["location"]
    with service.engine.connect() as conn:
        from sqlalchemy import func, select

        from hws.store.tables import imports, jobs

        assert conn.execute(select(func.count()).select_from(imports)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 2
    assert submit(client, headers, package, **{"Idempotency-Key": "bad key with spaces"}).status_code == 400


def test_bad_requests(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service))
    assert submit(client, headers, b"").status_code == 400
    wrong = client.post(f"{API}/request", content=b"x", headers={**headers, "Content-Type": "text/plain"})
    assert wrong.status_code == 415
    assert client.post(f"{API}/request", content=b"x", headers={"Content-Type": "application/zip"}).status_code == 401


def test_other_offices_see_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    kr = bearer(client, enrol(service, office="KR"))
    us = bearer(client, enrol(service, office="US"))
    location = submit(client, kr, example_package("application", office="KR")).headers["location"]
    drain(service)
    assert client.get(location, headers=us).status_code == 404
    assert client.get(f"{API}/request/970000001", headers=us).status_code == 404
    assert client.get(f"{API}/request/970000001", headers=kr).status_code == 200
    assert client.get(f"{API}/request/import/NOT-AN-ID", headers=kr).status_code == 404
    assert client.get(f"{API}/request/123", headers=kr).status_code == 404


def test_publications_scope_cannot_submit(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    office = enrol(service, scopes=["hws/publications"])
    response = submit(client, bearer(client, office), example_package("application", office="KR"))
    assert response.status_code == 403


def test_orphans_swept(setup) -> None:  # type: ignore[no-untyped-def]
    import os

    from hws.worker.maintenance import sweep_orphans

    service, client = setup
    headers = bearer(client, enrol(service))
    submit(client, headers, example_package("application", office="KR"))
    orphan = service.blobs.put_bytes(b"left by a crash between fsync and commit")
    writer = service.blobs.writer()
    writer.write(b"half an upload")
    os.close(writer._fd)  # its process died: the file is no longer held open
    writer._fd = None
    assert sweep_orphans(service, grace=0) == {"blobs": 1, "temporary": 1}
    assert not service.blobs.exists(orphan.sha256)
    assert len(list(service.blobs.list_blobs())) == 1


def test_sweeper_never_deletes_a_blob_being_referenced(setup) -> None:  # type: ignore[no-untyped-def]
    """A retry of a package whose earlier copy was left unreferenced by a crash: the kept
    copy is refreshed, and the sweep cannot run between blob commit and row commit."""
    import os

    from hws.worker.maintenance import sweep_orphans

    service, _client = setup
    package = example_package("application", office="KR")
    leftover = service.blobs.put_bytes(package)  # a crash between fsync and commit
    path = service.blobs.path_for(leftover.sha256)
    os.utime(path, (0, 0))
    writer = service.blobs.writer()
    writer.write(package)
    with service.blobs.referencing():
        writer.commit()
        assert sweep_orphans(service, grace=60)["blobs"] == 0  # busy: it waits for the next round
        assert path.stat().st_mtime > 1000  # refreshed, so not an "old orphan" anymore
    assert sweep_orphans(service, grace=60)["blobs"] == 0
    assert service.blobs.exists(leftover.sha256)


def test_sweeper_spares_open_temporary_files(setup) -> None:  # type: ignore[no-untyped-def]
    from hws.worker.maintenance import sweep_orphans

    service, _client = setup
    writer = service.blobs.writer()
    writer.write(b"slow upload in progress")
    assert sweep_orphans(service, grace=0)["temporary"] == 0
    writer.write(b" ... and done")
    ref = writer.commit()
    assert service.blobs.exists(ref.sha256)
