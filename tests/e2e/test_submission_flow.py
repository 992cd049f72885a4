"""End to end on the real server: submit packages, follow the import, read the SR status."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hws.client import APIError, AsyncHagueClient, HagueClient
from hws.client.statuses import ImportState, RequestState
from hws.st96.examples import example_package
from tests.e2e.test_office_flow import enrol_cli

pytestmark = pytest.mark.e2e

WAIT = {"timeout": 60.0, "poll": 0.1, "max_poll": 0.5}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def office(server, tmp_path):  # type: ignore[no-untyped-def]
    client_id, files = enrol_cli(server, tmp_path)
    return {"issuer": server.issuer, "client_id": client_id, "private_key": files.private_key}


def test_submit_wait_imported_then_request_status(server, tmp_path, office) -> None:  # type: ignore[no-untyped-def]
    package = write(tmp_path, "app.zip", example_package("application", office="KR"))
    sent: list[tuple[int, int]] = []
    with HagueClient(**office) as hws:
        pending = hws.submit(package, progress=lambda s, t: sent.append((s, t)))
        assert pending.status is ImportState.PENDING
        assert pending.location == f"{server.api_url}/request/import/{pending.import_id}"
        assert pending.retry_after is not None and pending.package_size == package.stat().st_size
        assert sent[-1] == (package.stat().st_size, package.stat().st_size)

        done = hws.wait_for_import(pending.import_id, **WAIT)
        assert done.status is ImportState.IMPORTED
        assert all(p.severity == "warning" for p in done.problems)  # e.g. xsd-not-installed
        assert done.srn is not None and len(done.srn) == 9 and done.srn.startswith("970")
        assert done.transaction == "HagueApplication" and done.processed_at is not None

        again = hws.import_status(pending.import_id)  # answered 304 from the ETag: same result
        assert again == done
        request = hws.request_status(done.srn)
        assert request.status is RequestState.UNDEFINED
        assert (request.srn, request.import_id, request.office) == (done.srn, done.import_id, "KR")
        assert request.transaction == "HagueApplication"
        assert hws.request_status(done.srn) == request


def test_conditional_get_really_is_304(server, tmp_path, office) -> None:  # type: ignore[no-untyped-def]
    package = write(tmp_path, "app.zip", example_package("application", office="KR"))
    with HagueClient(**office) as hws:
        done = hws.wait_for_import(hws.submit(package).import_id, **WAIT)
        path = f"/request/import/{done.import_id}"
        etag = hws._etags[path][0]
        assert hws.request("GET", path, headers={"If-None-Match": etag}).status_code == 304


def test_rejected_package_lists_its_problems(server, tmp_path, office) -> None:  # type: ignore[no-untyped-def]
    foreign = write(tmp_path, "us.zip", example_package("application", office="US"))  # sent by a KR client
    not_zip = write(tmp_path, "junk.zip", b"this is not a zip file at all")
    with HagueClient(**office) as hws:
        rejected = hws.wait_for_import(hws.submit(foreign).import_id, **WAIT)
        assert rejected.status is ImportState.REJECTED and rejected.srn is None
        assert "office-code-mismatch" in {p.code for p in rejected.problems}
        mismatch = next(p for p in rejected.problems if p.code == "office-code-mismatch")
        assert mismatch.severity == "error" and mismatch.message and mismatch.entry

        junk = hws.wait_for_import(hws.submit(not_zip).import_id, **WAIT)
        assert junk.rejected and [p.code for p in junk.problems if p.severity == "error"] == ["zip-not-a-zip"]


def test_idempotent_retry_returns_the_same_import(server, tmp_path, office) -> None:  # type: ignore[no-untyped-def]
    package = write(tmp_path, "app.zip", example_package("application", office="KR"))
    other = write(tmp_path, "other.zip", example_package("application", office="KR", office_reference="KR-OTHER"))
    assert other.read_bytes() != package.read_bytes()
    with HagueClient(**office) as hws:
        first = hws.submit(package, idempotency_key="kr-e2e-0001")
        second = hws.submit(package, idempotency_key="kr-e2e-0001")
        assert second.import_id == first.import_id
        with pytest.raises(APIError) as info:
            hws.submit(other, idempotency_key="kr-e2e-0001")
        assert info.value.status == 422 and info.value.code == "idempotency-key-reused"
        assert hws.submit(package).import_id != first.import_id  # no key: a new import


def test_other_offices_imports_are_not_found(server, tmp_path, office) -> None:  # type: ignore[no-untyped-def]
    package = write(tmp_path, "app.zip", example_package("application", office="KR"))
    us_id, us_files = enrol_cli(server, tmp_path, office="US")
    with HagueClient(**office) as kr, HagueClient(issuer=server.issuer, client_id=us_id, private_key=us_files.private_key) as us:
        done = kr.wait_for_import(kr.submit(package).import_id, **WAIT)
        with pytest.raises(APIError) as info:
            us.import_status(done.import_id)
        assert info.value.status == 404
        with pytest.raises(APIError) as info:
            us.request_status(done.srn or "")
        assert info.value.status == 404


def test_async_client_submits_and_waits(server, tmp_path, office) -> None:  # type: ignore[no-untyped-def]
    packages = [
        write(tmp_path, f"app{i}.zip", example_package("application", office="KR", office_reference=f"KR-{i}")) for i in range(3)
    ]

    async def run() -> None:
        async with AsyncHagueClient(**office) as hws:
            sent = await asyncio.gather(*(hws.submit(p) for p in packages))
            done = await asyncio.gather(*(hws.wait_for_import(s.import_id, **WAIT) for s in sent))
            assert all(d.imported for d in done) and len({d.srn for d in done}) == 3
            assert sorted(d.office_reference or "" for d in done) == ["KR-0", "KR-1", "KR-2"]
            request = await hws.request_status(done[0].srn or "")
            assert request.status is RequestState.UNDEFINED

    asyncio.run(run())


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def configured(server, office):  # type: ignore[no-untyped-def]
    server.hws(
        "configure", "--issuer", server.issuer, "--client-id", office["client_id"], "--private-key", str(office["private_key"])
    )
    return server


def test_cli_submit_wait_and_status(configured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    package = write(tmp_path, "app.zip", example_package("application", office="KR"))
    result = configured.hws("submit", str(package), "--wait", "--timeout", "60", "--json")
    done = json.loads(result.stdout)
    assert done["status"] == "Imported" and done["srn"].startswith("970")

    shown = configured.hws("status", done["srn"], "--json")
    assert json.loads(shown.stdout)["status"] == "Undefined"
    human = configured.hws("status", done["srn"])
    assert done["srn"] in human.stdout and "Undefined" in human.stdout and "HagueApplication" in human.stdout

    imported = configured.hws("import-status", done["import_id"])
    assert "imported:" in imported.stdout and done["srn"] in imported.stdout
    assert json.loads(configured.hws("import-status", done["import_id"], "--json").stdout)["srn"] == done["srn"]


def test_cli_submit_without_wait_prints_the_import_id(configured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    package = write(tmp_path, "app.zip", example_package("application", office="KR"))
    result = configured.hws("submit", str(package), "--idempotency-key", "cli-1")
    assert result.returncode == 0 and "pending:" in result.stdout
    again = json.loads(configured.hws("submit", str(package), "--idempotency-key", "cli-1", "--json").stdout)
    assert again["import_id"] in result.stdout
    human = configured.hws("submit", str(package), "--wait", "--timeout", "60")
    assert "imported:" in human.stdout and "hws status 970" in human.stdout


def test_cli_rejection_lists_every_problem(configured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    foreign = write(tmp_path, "us.zip", example_package("application", office="US"))
    result = configured.hws("submit", str(foreign), "--wait", "--timeout", "60", check=False)
    assert result.returncode == 1
    assert "rejected:" in result.stderr and "office-code-mismatch" in result.stderr
    as_json = configured.hws("submit", str(foreign), "--wait", "--timeout", "60", "--json", check=False)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["status"] == "Rejected"
    import_id = json.loads(as_json.stdout)["import_id"]
    shown = configured.hws("import-status", import_id, check=False)
    assert shown.returncode == 1 and "office-code-mismatch" in shown.stderr


def test_cli_checks_before_sending(configured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    junk = write(tmp_path, "junk.zip", b"not a zip")
    refused = configured.hws("submit", str(junk), check=False)
    assert refused.returncode == 1 and "zip-not-a-zip" in refused.stderr and "Nothing was sent" in refused.stderr
    refused_json = configured.hws("submit", str(junk), "--json", check=False)
    assert refused_json.returncode == 1 and json.loads(refused_json.stdout)["problems"][0]["code"] == "zip-not-a-zip"
    sent = configured.hws("submit", str(junk), "--no-check", "--wait", "--timeout", "60", "--json", check=False)
    assert sent.returncode == 1 and json.loads(sent.stdout)["problems"][0]["code"] == "zip-not-a-zip"


def test_cli_errors_are_readable(configured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = configured.hws("import-status", "imp-unknown", check=False)
    assert missing.returncode == 5 and "404" in missing.stderr and "Traceback" not in missing.stderr  # 5: not found
    missing_sr = configured.hws("status", "970999999", "--json", check=False)
    assert missing_sr.returncode == 5 and "404" in json.loads(missing_sr.stdout)["error"]
