"""The API's read cache through the real server, on PostgreSQL and on the embedded
default (SQLite): status polls are answered from memory, yet follow every change another
process commits — on SQLite from the very next poll."""

from __future__ import annotations

import httpx

from hws.client import HagueClient
from hws.st96.examples import example_package
from tests.e2e.test_office_flow import enrol_cli
from tests.support.servers import until

API = "/webservices/api/v1"


def read_cache_state(server) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return httpx.get(f"{server.url}/readyz", timeout=10).json()["checks"]["read_cache"]  # type: ignore[no-any-return]


def test_polls_follow_changes_committed_by_other_processes(pg_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    until(lambda: read_cache_state(pg_server)["status"] == "live", timeout=10, what="the read cache to go live")
    client_id, files = enrol_cli(pg_server, tmp_path)
    package = tmp_path / "application.zip"
    package.write_bytes(example_package("application"))
    with HagueClient(issuer=pg_server.issuer, client_id=client_id, private_key=files.private_key) as hws:
        imported = hws.wait_for_import(hws.submit(package).import_id, timeout=90)
        assert imported.status == "Imported" and imported.srn
        srn = imported.srn
        before = read_cache_state(pg_server)
        for _ in range(5):
            assert hws.request_status(srn).status == "Undefined"
            assert hws.import_status(imported.import_id).srn == srn
        after = read_cache_state(pg_server)
        assert after["hits"] > before["hits"]  # answered from memory

        pg_server.hws("admin", "sr", "take-up", srn)  # another process commits the change
        until(lambda: hws.request_status(srn).status == "Processing", timeout=3, what="the poll to see the change")
        token = hws.token()

    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{pg_server.url}{API}/pingMe", headers=bearer).status_code == 200
    pg_server.hws("admin", "clients", "disable", client_id)  # another process disables the client
    until(lambda: httpx.get(f"{pg_server.url}{API}/pingMe", headers=bearer).status_code == 401, timeout=3,
          what="the disabled client's token to be refused")  # fmt: skip
    assert httpx.get(f"{pg_server.url}{API}/request/{srn}", headers=bearer).status_code == 401


def test_sqlite_polls_see_another_process_commit_at_the_next_poll(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert read_cache_state(server)["status"] == "live"
    client_id, files = enrol_cli(server, tmp_path)
    package = tmp_path / "application.zip"
    package.write_bytes(example_package("application"))
    with HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws:
        imported = hws.wait_for_import(hws.submit(package).import_id, timeout=90)
        assert imported.srn
        srn = imported.srn
        before = read_cache_state(server)
        for _ in range(5):
            assert hws.request_status(srn).status == "Undefined"
        assert read_cache_state(server)["hits"] > before["hits"]  # answered from memory

        server.hws("admin", "sr", "take-up", srn)  # another process commits the change
        assert hws.request_status(srn).status == "Processing"  # no waiting: the next poll sees it
        token = hws.token()

    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}{API}/pingMe", headers=bearer).status_code == 200
    server.hws("admin", "clients", "disable", client_id)
    assert httpx.get(f"{server.url}{API}/pingMe", headers=bearer).status_code == 401
    assert httpx.get(f"{server.url}{API}/request/{srn}", headers=bearer).status_code == 401
