"""Service requests in the store: creation with designations, files and the first event;
reading back (record, content, summary, ETag); the version-guarded transition; and each
query (by IRN, the registered holder of an IRN, filters, overdue regularizations, counts)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from hws.domain.clock import FixedClock
from hws.domain.lifecycle import Status
from hws.st96.content import Deferment, Design, PackageContent, View
from hws.st96.examples import example_package
from hws.st96.package import validate_package
from hws.st96.transactions import TransactionKind
from hws.store import imports
from hws.store import service_requests as srs
from hws.store.service_requests import ServiceRequest, StaleRequest, StoredFile
from tests.conftest import enrol, make_service

NOW = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # a Thursday of ISO week 2026-W53


class World:
    def __init__(self, engine: Engine, client_id: str) -> None:
        self.engine = engine
        self.client_id = client_id
        self._imports = 0

    def blob(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        with self.engine.begin() as conn:
            imports.reference_blob(conn, sha, len(data), NOW)
        return sha, len(data)

    def new_import(self) -> str:
        self._imports += 1
        import_id = f"imp-{self._imports:04d}"
        sha, size = self.blob(import_id.encode())
        with self.engine.begin() as conn:
            imports.insert_import(
                conn, import_id=import_id, client_id=self.client_id, office="KR", sha256=sha, size=size, now=NOW
            )
        return import_id

    def create(
        self, srn: str, content: PackageContent | None = None, files: list[StoredFile] | None = None, now: datetime = NOW
    ) -> ServiceRequest:
        import_id = self.new_import()
        with self.engine.begin() as conn:
            srs.create(
                conn,
                srn=srn,
                import_id=import_id,
                client_id=self.client_id,
                content=content or application(),
                files=files or [],
                now=now,
            )
        found = srs.get(self.engine, srn)
        assert found is not None
        return found

    def move(self, sr: ServiceRequest, to: Status, now: datetime = NOW, **fields: Any) -> ServiceRequest:
        with self.engine.begin() as conn:
            srs.transition(conn, sr, to_status=to.value, actor="op:test", reason=f"to {to}", now=now, **fields)
        moved = srs.get(self.engine, sr.srn)
        assert moved is not None
        return moved


def application(office: str = "KR", reference: str | None = "REF-1", designated: tuple[str, ...] = ()) -> PackageContent:
    return PackageContent(
        transaction=TransactionKind.APPLICATION,
        st96_version="V6_0",
        office=office,
        office_reference=reference,
        xml_entry="application.xml",
        request_date=date(2026, 12, 28),
        designs=(Design("D1", views=(View("V1", "d1.jpg", "Perspective"),), product="Chair", locarno_classes=("06-01",)),),
        designated_offices=designated,
        applicants=("ACME",),
        filing_date=date(2026, 12, 28),
        deferment=Deferment(True, 15, "In day"),
    )


def decision(irn: str = "DM/000001", office: str = "US") -> PackageContent:
    return PackageContent(
        transaction=TransactionKind.REFUSAL,
        st96_version="V6_0",
        office=office,
        office_reference="DEC-1",
        xml_entry="refusal.xml",
        irn=irn,
        decision_date=date(2027, 1, 4),
    )


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str) -> Iterator[World]:
    service = make_service(tmp_path, sqlite_url, clock=FixedClock(NOW.timestamp()), worker_threads=0, scheduler=False)
    yield World(service.engine, enrol(service, office="KR").client_id)
    service.close()


@pytest.fixture
def both_worlds(tmp_path: Path, database_url: str) -> Iterator[World]:
    """SQLite and PostgreSQL."""
    service = make_service(tmp_path, database_url, clock=FixedClock(NOW.timestamp()), worker_threads=0, scheduler=False)
    yield World(service.engine, enrol(service, office="KR").client_id)
    service.close()


# ----------------------------------------------------------------------------- create


def test_create_records_the_request_undefined_at_version_one(both_worlds: World) -> None:
    content = application(designated=("US", "EM", "US", "JP"))
    sr = both_worlds.create("970000001", content)
    assert sr.status == srs.UNDEFINED == Status.UNDEFINED.value
    assert sr.version == 1 and sr.etag == '"970000001-v1"'
    assert (sr.office, sr.transaction, sr.office_reference) == ("KR", "HagueApplication", "REF-1")
    assert sr.client_id == both_worlds.client_id and sr.import_id == "imp-0001"
    assert sr.target_irn is None and sr.irn is None and sr.recorded_against is None
    assert sr.expected_publication is None and sr.regularization_deadline is None and sr.registered_at is None
    assert sr.fee_shortfall is False
    assert sr.created_at == sr.updated_at == NOW and sr.created_at.tzinfo is not None
    assert srs.designations(both_worlds.engine, sr.srn) == ["EM", "JP", "US"]  # once each, sorted
    assert srs.history(both_worlds.engine, sr.srn) == [
        {"at": NOW.isoformat(), "from": None, "to": "Undefined", "actor": "import", "reason": "package imported"}
    ]


def test_create_stores_the_record_read_back_as_the_same_content(world: World) -> None:
    content = application()
    sr = world.create("970000001", content)
    assert sr.data == {**content.to_json()}
    assert sr.data["record_version"] == 2
    assert sr.content == content
    assert sr.content.deferment_until(date(2000, 1, 1)) == date(2027, 1, 12)  # 15 days after the filing date


def test_a_real_package_record_survives_the_store(world: World) -> None:
    content = validate_package(example_package("application", office="KR")).content
    assert content is not None
    sr = world.create("970000001", content)
    back = sr.content
    assert back.holders == content.holders and back.designations == content.designations
    assert back.designs == content.designs and back.deferment == content.deferment
    assert back.files == {}  # the files are stored apart, as blobs
    assert srs.designations(world.engine, sr.srn) == sorted(set(content.designated_offices))


def test_a_decision_keeps_its_irn_as_target_and_designates_nothing(world: World) -> None:
    sr = world.create("970000002", decision("DM/000042"))
    assert sr.transaction == "HagueRefusalRequest" and sr.office == "US"
    assert sr.target_irn == "DM/000042" and sr.irn is None
    assert srs.designations(world.engine, sr.srn) == []
    assert srs.files(world.engine, sr.srn) == []


def test_files_are_listed_by_path(world: World) -> None:
    sha_a, size_a = world.blob(b"a" * 10)
    sha_b, size_b = world.blob(b"b" * 20)
    stored = [
        StoredFile("z/last.pdf", sha_a, size_a, "application/pdf", "MISCELLANEOUS"),
        StoredFile("application.xml", sha_b, size_b, "application/xml", "ST96_XML"),
        StoredFile("d1.jpg", sha_a, size_a, "image/jpeg", None),
    ]
    sr = world.create("970000001", files=stored)
    assert srs.files(world.engine, sr.srn) == sorted(stored, key=lambda f: f.path)


def test_a_file_whose_blob_is_not_recorded_is_refused(world: World) -> None:
    unknown = StoredFile("x.pdf", "0" * 64, 1, "application/pdf", None)
    with pytest.raises(IntegrityError):  # the foreign key
        world.create("970000001", files=[unknown])
    assert srs.get(world.engine, "970000001") is None  # nothing half-written


def test_one_request_per_import_and_per_srn(world: World) -> None:
    first = world.create("970000001")
    with pytest.raises(IntegrityError), world.engine.begin() as conn:  # unique import_id
        srs.create(
            conn, srn="970000002", import_id=first.import_id, client_id=world.client_id, content=application(), files=[], now=NOW
        )
    with pytest.raises(IntegrityError):  # primary key srn
        world.create("970000001")
    assert [sr.srn for sr in srs.find(world.engine)] == ["970000001"]


# ----------------------------------------------------------------------------- reading


def test_unknown_requests_read_as_none(world: World) -> None:
    assert srs.get(world.engine, "970000999") is None
    with world.engine.connect() as conn:
        assert srs.get_in(conn, "970000999") is None
        assert srs.registration_in(conn, "DM/000001") is None
        assert srs.designations_in(conn, "970000999") == []
    assert srs.by_irn(world.engine, "DM/000001") is None
    assert srs.files(world.engine, "970000999") == [] and srs.history(world.engine, "970000999") == []


def test_get_in_reads_inside_the_callers_transaction(world: World) -> None:
    import_id = world.new_import()
    with world.engine.begin() as conn:
        srs.create(
            conn, srn="970000001", import_id=import_id, client_id=world.client_id, content=application(), files=[], now=NOW
        )
        inside = srs.get_in(conn, "970000001")
        assert inside is not None and inside.status == "Undefined"
        assert srs.designations_in(conn, "970000001") == []


def test_as_dict_is_the_operators_summary(world: World) -> None:
    sr = world.create("970000001")
    summary = sr.as_dict()
    assert summary == {
        "srn": "970000001",
        "import_id": "imp-0001",
        "office": "KR",
        "transaction": "HagueApplication",
        "status": "Undefined",
        "office_reference": "REF-1",
        "irn": None,
        "target_irn": None,
        "recorded_against": None,
        "expected_publication": None,
        "regularization_deadline": None,
        "fee_shortfall": False,
        "registered_at": None,
        "created_at": "2026-12-31T23:30:00+00:00",
        "updated_at": "2026-12-31T23:30:00+00:00",
    }
    assert "data" not in summary and "client_id" not in summary
    sr = world.move(
        world.move(sr, Status.PROCESSING),
        Status.REGISTERED,
        irn="DM/000001",
        expected_publication=date(2027, 1, 1),
        registered_at=NOW,
    )
    summary = sr.as_dict()
    assert summary["irn"] == "DM/000001" and summary["expected_publication"] == "2027-01-01"
    assert summary["registered_at"] == "2026-12-31T23:30:00+00:00"


# ----------------------------------------------------------------------------- transition


def test_transition_moves_the_status_bumps_the_version_and_records_the_event(both_worlds: World) -> None:
    sr = both_worlds.create("970000001")
    later = NOW + timedelta(days=1)  # into 2027
    moved = both_worlds.move(sr, Status.PROCESSING, now=later)
    assert moved.status == "Processing" and moved.version == 2 and moved.etag == '"970000001-v2"'
    assert moved.updated_at == later and moved.created_at == NOW
    pending = both_worlds.move(
        moved, Status.PENDING_REGULARIZATION, now=later, regularization_deadline=date(2027, 4, 1), fee_shortfall=True
    )
    assert pending.regularization_deadline == date(2027, 4, 1) and pending.fee_shortfall is True and pending.version == 3
    assert [(e["from"], e["to"], e["actor"]) for e in srs.history(both_worlds.engine, sr.srn)] == [
        (None, "Undefined", "import"),
        ("Undefined", "Processing", "op:test"),
        ("Processing", "Pending Regularization", "op:test"),
    ]
    assert srs.history(both_worlds.engine, sr.srn)[2] == {
        "at": later.isoformat(),
        "from": "Processing",
        "to": "Pending Regularization",
        "actor": "op:test",
        "reason": "to Pending Regularization",
    }


def test_a_stale_request_cannot_be_moved_and_leaves_no_event(both_worlds: World) -> None:
    sr = both_worlds.create("970000001")
    both_worlds.move(sr, Status.PROCESSING)  # another actor moved it first
    with pytest.raises(StaleRequest) as raised, both_worlds.engine.begin() as conn:
        srs.transition(conn, sr, to_status="Cancelled", actor="op:late", reason="late", now=NOW)
    assert str(raised.value) == "970000001"
    after = srs.get(both_worlds.engine, sr.srn)
    assert after is not None and after.status == "Processing" and after.version == 2
    assert [e["actor"] for e in srs.history(both_worlds.engine, sr.srn)] == ["import", "op:test"]


def test_a_request_that_does_not_exist_is_stale(world: World) -> None:
    ghost = world.create("970000001")
    ghost = ServiceRequest(**{**ghost.__dict__, "srn": "970000999"})
    with pytest.raises(StaleRequest), world.engine.begin() as conn:
        srs.transition(conn, ghost, to_status="Processing", actor="x", reason="", now=NOW)
    assert srs.history(world.engine, "970000999") == []


def test_transition_updates_only_its_own_request(world: World) -> None:
    a, b = world.create("970000001"), world.create("970000002")
    world.move(a, Status.PROCESSING)
    untouched = srs.get(world.engine, b.srn)
    assert untouched == b


# ----------------------------------------------------------------------------- queries


def register(world: World, srn: str, irn: str, **fields: Any) -> ServiceRequest:
    sr = world.move(world.create(srn), Status.PROCESSING)
    return world.move(sr, Status.REGISTERED, irn=irn, registered_at=NOW, **fields)


def test_by_irn_and_the_registration_that_holds_an_irn(world: World) -> None:
    held = register(world, "970000001", "DM/000001")
    with world.engine.connect() as conn:
        found = srs.registration_in(conn, "DM/000001")
        assert found is not None and found.srn == held.srn
        assert srs.registration_in(conn, "DM/000002") is None
    by_irn = srs.by_irn(world.engine, "DM/000001")
    assert by_irn is not None and by_irn.srn == held.srn


def test_an_irn_on_a_request_not_registered_is_no_registration(world: World) -> None:
    # registration_in asks for a Registered request; by_irn does not look at the status
    sr = world.move(world.create("970000001"), Status.PROCESSING, irn="DM/000007")
    with world.engine.connect() as conn:
        assert srs.registration_in(conn, "DM/000007") is None
    found = srs.by_irn(world.engine, "DM/000007")
    assert found is not None and found.srn == sr.srn and found.status == "Processing"


def test_an_irn_belongs_to_one_request(world: World) -> None:
    register(world, "970000001", "DM/000001")
    sr = world.move(world.create("970000002"), Status.PROCESSING)
    with pytest.raises(IntegrityError), world.engine.begin() as conn:  # unique irn
        srs.transition(conn, sr, to_status="Registered", actor="x", reason="", now=NOW, irn="DM/000001")
    still = srs.get(world.engine, "970000002")
    assert still is not None and still.status == "Processing" and still.irn is None


def test_find_filters_and_orders_by_srn(world: World) -> None:
    world.create("970000003", application(office="KR", reference="B"), now=NOW)
    world.create("970000001", application(office="KR", reference="A"), now=NOW - timedelta(days=2))
    world.create("970000002", decision(office="US"), now=NOW - timedelta(days=1))
    world.move(srs.get(world.engine, "970000003"), Status.PROCESSING)  # type: ignore[arg-type]

    def srns(**filters: Any) -> list[str]:
        return [sr.srn for sr in srs.find(world.engine, **filters)]

    assert srns() == ["970000001", "970000002", "970000003"]
    assert srns(status="Undefined") == ["970000001", "970000002"] and srns(status="Processing") == ["970000003"]
    assert srns(status="Registered") == []
    assert srns(office="US") == ["970000002"] and srns(office="CH") == []
    assert srns(transaction="HagueApplication") == ["970000001", "970000003"]
    assert srns(transaction="HagueRefusalRequest") == ["970000002"]
    assert srns(office_reference="A") == ["970000001"] and srns(office_reference="a") == []
    assert srns(older_than=NOW - timedelta(days=1)) == ["970000001"]  # strictly older
    assert srns(older_than=NOW) == ["970000001", "970000002"]
    assert srns(status="Undefined", office="KR") == ["970000001"]
    assert srns(limit=2) == ["970000001", "970000002"]
    assert srns(limit=1, office="US") == ["970000002"]


def test_overdue_is_pending_regularization_past_its_deadline(world: World) -> None:
    today = date(2027, 1, 1)  # the day after a year with 53 ISO weeks ends

    def pending(srn: str, deadline: date) -> None:
        world.move(
            world.move(world.create(srn), Status.PROCESSING), Status.PENDING_REGULARIZATION, regularization_deadline=deadline
        )

    pending("970000001", date(2026, 12, 31))  # yesterday: overdue
    pending("970000002", today)  # due today: not yet
    pending("970000003", date(2027, 1, 2))
    regularized = world.create("970000004")  # back to Processing with its old deadline: not waiting any more
    regularized = world.move(
        world.move(regularized, Status.PROCESSING), Status.PENDING_REGULARIZATION, regularization_deadline=date(2026, 6, 1)
    )
    world.move(regularized, Status.PROCESSING)
    assert [sr.srn for sr in srs.overdue(world.engine, today)] == ["970000001"]
    assert srs.overdue(world.engine, date(2026, 12, 31)) == []
    assert sorted(sr.srn for sr in srs.overdue(world.engine, date(2027, 1, 3))) == ["970000001", "970000002", "970000003"]


def test_count_by_status(world: World) -> None:
    assert srs.count_by_status(world.engine) == {}
    world.create("970000001")
    world.create("970000002")
    register(world, "970000003", "DM/000001")
    assert srs.count_by_status(world.engine) == {"Undefined": 2, "Registered": 1}
