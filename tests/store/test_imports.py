"""Imports in the store: blobs recorded as in use (one or many, idempotent), the
idempotency key bound once per client until it expires, the pending import and its one
finish (Imported or Rejected with problems), its ETag, and the purge of expired keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from hws.domain.clock import FixedClock
from hws.domain.lifecycle import ImportState
from hws.store import imports
from hws.store.imports import IdempotentHit, ImportRecord
from hws.store.tables import blobs
from tests.conftest import enrol, make_service

NOW = datetime(2027, 1, 3, 23, 59, 59, tzinfo=UTC)  # the Sunday that ends ISO week 2026-W53
NOW_S = int(NOW.timestamp())
RETENTION = 86_400


@dataclass
class World:
    engine: Engine
    kr: str
    us: str


def make_world(tmp_path: Path, url: str) -> Iterator[World]:
    service = make_service(tmp_path, url, clock=FixedClock(NOW_S), worker_threads=0, scheduler=False)
    yield World(service.engine, enrol(service, office="KR").client_id, enrol(service, office="US").client_id)
    service.close()


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str) -> Iterator[World]:
    yield from make_world(tmp_path, sqlite_url)


@pytest.fixture
def both_worlds(tmp_path: Path, database_url: str) -> Iterator[World]:
    """SQLite and PostgreSQL (each takes its own dialect's ON CONFLICT)."""
    yield from make_world(tmp_path, database_url)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {r.sha256: r.size for r in conn.execute(select(blobs.c.sha256, blobs.c.size))}


def new_import(world: World, import_id: str, client_id: str | None = None, data: bytes | None = None) -> str:
    data = data if data is not None else import_id.encode()
    with world.engine.begin() as conn:
        imports.reference_blob(conn, sha(data), len(data), NOW)
        imports.insert_import(
            conn, import_id=import_id, client_id=client_id or world.kr, office="KR", sha256=sha(data), size=len(data), now=NOW
        )
    return import_id


def claim(
    world: World, key: str, import_id: str, data: bytes, *, client_id: str | None = None, now_s: int = NOW_S
) -> IdempotentHit | None:
    with world.engine.begin() as conn:
        return imports.claim_idempotency_key(
            conn,
            client_id=client_id or world.kr,
            key=key,
            import_id=import_id,
            sha256=sha(data),
            now_s=now_s,
            retention=RETENTION,
        )


# ----------------------------------------------------------------------------- blobs


def test_reference_blob_is_idempotent_and_keeps_the_first_row(both_worlds: World) -> None:
    digest = sha(b"package")
    for _ in range(2):
        with both_worlds.engine.begin() as conn:
            imports.reference_blob(conn, digest, 7, NOW)
    with both_worlds.engine.begin() as conn:
        imports.reference_blob(conn, digest, 999, NOW + timedelta(days=1))  # same digest again: nothing changes
    assert blob_rows(both_worlds.engine) == {digest: 7}


def test_reference_blobs_records_many_once_each(both_worlds: World) -> None:
    a, b, c = sha(b"a"), sha(b"b"), sha(b"c")
    with both_worlds.engine.begin() as conn:
        imports.reference_blob(conn, a, 1, NOW)
        imports.reference_blobs(conn, [(c, 3), (a, 1), (b, 2), (c, 3)], NOW)  # repeats and an existing one
    assert blob_rows(both_worlds.engine) == {a: 1, b: 2, c: 3}
    with both_worlds.engine.begin() as conn:
        imports.reference_blobs(conn, [], NOW)  # nothing to record: no statement
        assert imports.referenced_blobs(conn, [a, c, sha(b"unknown")]) == {a, c}
        assert imports.referenced_blobs(conn, []) == set()


def test_a_blob_needs_a_size(world: World) -> None:
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        imports.reference_blob(conn, sha(b"x"), None, NOW)  # type: ignore[arg-type]
    assert blob_rows(world.engine) == {}


# ----------------------------------------------------------------------------- the import


def test_insert_import_is_pending_and_get_reads_it_from_an_engine_or_a_connection(world: World) -> None:
    new_import(world, "imp-1", data=b"zip bytes")
    record = imports.get(world.engine, "imp-1")
    assert record == ImportRecord(
        import_id="imp-1",
        client_id=world.kr,
        office="KR",
        blob_sha256=sha(b"zip bytes"),
        size=9,
        status="Pending",
        received_at=NOW,
        processed_at=None,
        transaction=None,
        office_reference=None,
        srn=None,
        problems=[],
        updated_at=NOW,
    )
    assert record.status == imports.PENDING == ImportState.PENDING
    with world.engine.connect() as conn:
        assert imports.get(conn, "imp-1") == record
        assert imports.get(conn, "imp-2") is None
    assert imports.get(world.engine, "imp-2") is None


def test_an_import_needs_its_blob_and_a_known_client(world: World) -> None:
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        imports.insert_import(
            conn, import_id="imp-1", client_id=world.kr, office="KR", sha256=sha(b"never recorded"), size=1, now=NOW
        )
    with pytest.raises(IntegrityError):
        new_import(world, "imp-2", client_id="no-such-client")
    new_import(world, "imp-3")
    with pytest.raises(IntegrityError):
        new_import(world, "imp-3")  # one row per import id
    assert imports.get(world.engine, "imp-1") is None and imports.get(world.engine, "imp-2") is None


def test_finish_imported_once(both_worlds: World) -> None:
    new_import(both_worlds, "imp-1")
    done = NOW + timedelta(seconds=2)  # 2027-01-04, the first day of 2027-W01
    with both_worlds.engine.begin() as conn:
        assert imports.finish(
            conn,
            "imp-1",
            status=imports.IMPORTED,
            now=done,
            transaction="HagueApplication",
            office_reference="REF-1",
            srn="970000001",
        )
    record = imports.get(both_worlds.engine, "imp-1")
    assert record is not None
    assert (record.status, record.srn, record.transaction, record.office_reference) == (
        "Imported",
        "970000001",
        "HagueApplication",
        "REF-1",
    )
    assert record.processed_at == record.updated_at == done and record.received_at == NOW and record.problems == []
    with both_worlds.engine.begin() as conn:  # a second finish (a retried job) changes nothing
        assert not imports.finish(
            conn,
            "imp-1",
            status=imports.REJECTED,
            now=done + timedelta(hours=1),
            transaction=None,
            office_reference=None,
            problems=[{"code": "late"}],
        )
    assert imports.get(both_worlds.engine, "imp-1") == record


def test_finish_rejected_keeps_the_problems(world: World) -> None:
    new_import(world, "imp-1")
    problems = [
        {"code": "xml-not-well-formed", "message": "line 3: ü", "entry": "a.xml"},
        {"code": "zip-entry-too-large", "detail": {"limit": 10, "nested": [1, None, True]}},
    ]
    with world.engine.begin() as conn:
        assert imports.finish(
            conn, "imp-1", status=imports.REJECTED, now=NOW, transaction=None, office_reference=None, problems=problems
        )
    record = imports.get(world.engine, "imp-1")
    assert record is not None and record.status == "Rejected" and record.srn is None
    assert record.problems == problems


def test_finish_with_no_problems_reads_back_an_empty_list(world: World) -> None:
    new_import(world, "imp-1")
    with world.engine.begin() as conn:
        assert imports.finish(
            conn, "imp-1", status=imports.REJECTED, now=NOW, transaction=None, office_reference=None, problems=[]
        )
    record = imports.get(world.engine, "imp-1")
    assert record is not None and record.problems == []


def test_finish_of_an_unknown_import_is_false(world: World) -> None:
    with world.engine.begin() as conn:
        assert not imports.finish(conn, "imp-404", status=imports.IMPORTED, now=NOW, transaction=None, office_reference=None)


def test_the_etag_changes_with_the_status_and_the_update_time(world: World) -> None:
    new_import(world, "imp-1")
    pending = imports.get(world.engine, "imp-1")
    assert pending is not None and pending.etag == f'"imp-1-Pending-{NOW.timestamp():.6f}"'
    later = NOW + timedelta(microseconds=1500)
    with world.engine.begin() as conn:
        imports.finish(conn, "imp-1", status=imports.IMPORTED, now=later, transaction=None, office_reference=None)
    finished = imports.get(world.engine, "imp-1")
    assert finished is not None and finished.etag == f'"imp-1-Imported-{later.timestamp():.6f}"'
    assert finished.etag != pending.etag
    assert ImportRecord("x", "c", "KR", "s", 1, "Pending", NOW, None, None, None, None).etag == '"x-Pending-0.000000"'


# ----------------------------------------------------------------------------- idempotency keys


def test_an_idempotency_key_binds_the_first_import(both_worlds: World) -> None:
    new_import(both_worlds, "imp-1", data=b"one")
    new_import(both_worlds, "imp-2", data=b"one")
    new_import(both_worlds, "imp-3", data=b"two")
    assert claim(both_worlds, "key-1", "imp-1", b"one") is None  # bound
    assert claim(both_worlds, "key-1", "imp-2", b"one") == IdempotentHit("imp-1", same_bytes=True)  # a retry
    assert claim(both_worlds, "key-1", "imp-3", b"two") == IdempotentHit("imp-1", same_bytes=False)  # a conflict
    assert claim(both_worlds, "KEY-1", "imp-3", b"two") is None  # keys are compared exactly


def test_idempotency_keys_are_per_client(world: World) -> None:
    new_import(world, "imp-kr", client_id=world.kr, data=b"same")
    new_import(world, "imp-us", client_id=world.us, data=b"same")
    assert claim(world, "shared", "imp-kr", b"same", client_id=world.kr) is None
    assert claim(world, "shared", "imp-us", b"same", client_id=world.us) is None
    assert claim(world, "shared", "imp-us", b"same", client_id=world.kr) == IdempotentHit("imp-kr", True)


def test_an_expired_key_is_bound_again_and_one_not_yet_expired_is_not(world: World) -> None:
    for import_id in ("imp-1", "imp-2", "imp-3"):
        new_import(world, import_id, data=b"same")
    assert claim(world, "k", "imp-1", b"same") is None  # expires at NOW_S + RETENTION
    at_expiry = NOW_S + RETENTION
    assert claim(world, "k", "imp-2", b"same", now_s=at_expiry) == IdempotentHit("imp-1", True)  # still held
    assert claim(world, "k", "imp-2", b"same", now_s=at_expiry + 1) is None  # expired: now bound to imp-2
    assert claim(world, "k", "imp-3", b"same", now_s=at_expiry + 1) == IdempotentHit("imp-2", True)


def test_a_key_must_name_an_existing_import(world: World) -> None:
    with pytest.raises(IntegrityError):
        claim(world, "k", "imp-404", b"x")
    new_import(world, "imp-1")
    assert claim(world, "k", "imp-1", b"imp-1") is None  # the failed claim left nothing behind


def test_purge_removes_only_expired_keys(world: World) -> None:
    for i in range(3):
        new_import(world, f"imp-{i}")
        claim(world, f"k{i}", f"imp-{i}", b"x", now_s=NOW_S + i)  # expire at NOW_S + RETENTION + i
    assert imports.purge_idempotency_keys(world.engine, NOW_S + RETENTION) == 0
    assert imports.purge_idempotency_keys(world.engine, NOW_S + RETENTION + 2) == 2  # k0 and k1
    assert claim(world, "k2", "imp-0", b"x", now_s=NOW_S) == IdempotentHit("imp-2", True)  # k2 survives
    assert claim(world, "k0", "imp-0", b"x", now_s=NOW_S) is None  # k0 is free again
    assert imports.purge_idempotency_keys(world.engine, NOW_S + 10 * RETENTION) == 2
