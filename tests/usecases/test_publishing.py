"""The weekly publisher and the publication endpoints, in process with a moving clock."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.domain.clock import FixedClock
from hws.domain.weeks import Week
from hws.st96 import safexml
from hws.st96.api_documents import schema
from hws.st96.examples import example_package
from hws.store import publications as pub_store
from hws.usecases.examination import Examiner
from hws.usecases.publishing import Publisher
from hws.worker.scheduler import tick
from tests.api.test_requests import bearer, drain, submit
from tests.conftest import enrol, make_service

API = "/webservices/api/v1"
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC).timestamp()  # Monday of week 202647


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    service = make_service(tmp_path, sqlite_url, calendar=clock, worker_threads=0, scheduler=False)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    kr = bearer(client, enrol(service, office="KR"))
    us = bearer(client, enrol(service, office="US", examining=True))
    jp = bearer(client, enrol(service, office="JP"))
    yield service, clock, client, {"KR": kr, "US": us, "JP": jp}
    client.close()
    service.close()


def register_application(service, client, headers, immediate: bool = True) -> str:  # type: ignore[no-untyped-def]
    changes = {"immediate_publication": True, "deferment": None} if immediate else {}
    submit(client, headers, example_package("application", office="KR", **changes))
    drain(service)
    srn = max(r.srn for r in __import__("hws.store.service_requests", fromlist=["find"]).find(service.engine))
    examiner = Examiner(service)
    examiner.take_up(srn, actor="op")
    return examiner.register(srn, actor="op").irn  # type: ignore[return-value]


def entries(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_week_published_once_with_copy_and_bulletin(world, st96_dir) -> None:  # type: ignore[no-untyped-def]
    service, clock, client, offices = world
    irn = register_application(service, client, offices["KR"])  # expected publication: Friday 2026-11-20
    week = Week.parse("202647")
    assert client.get(f"{API}/publication/bulletin/202647", headers=offices["US"]).status_code == 404
    not_yet = client.get(f"{API}/publication/copy/confidential/202647", headers=offices["US"])
    assert not_yet.status_code == 404 and b"not-yet-published" in not_yet.content
    assert int(not_yet.headers["retry-after"]) >= 60

    clock.advance(5 * 86400)  # Saturday: Friday noon has passed
    assert tick(service)["published"] == ["202647"]
    assert tick(service)["published"] == []  # once
    published = pub_store.for_week(service.engine, "202647")
    assert {(p.kind, p.office) for p in published} == {("bulletin", ""), ("confidential", "US")}

    copy = client.get(f"{API}/publication/copy/confidential/202647", headers=offices["US"])
    assert copy.status_code == 200 and copy.headers["content-type"] == "application/zip"
    files = entries(copy.content)
    xml_name = next(n for n in files if n.endswith(".xml"))
    assert irn.encode() in files[xml_name]
    folder = irn.replace("/", "")
    assert any(n.startswith(f"images/{folder}/") for n in files)
    bulletin = client.get(f"{API}/publication/bulletin/202647", headers=offices["JP"])
    assert bulletin.status_code == 200 and irn.encode() in next(
        v for n, v in entries(bulletin.content).items() if n.endswith(".xml")
    )
    assert bulletin.headers["etag"] == f'"{hashlib.sha256(bulletin.content).hexdigest()}"'

    # official schema
    from hws.st96.schemaset import SchemaSet

    ib_schema = SchemaSet(st96_dir).compiled("V6_0", document="HagueIBToOfficeTransaction")
    for blob in (copy.content, bulletin.content):
        xml = next(v for n, v in entries(blob).items() if n.endswith(".xml"))
        assert ib_schema.errors(safexml.parse(xml, max_bytes=1 << 30), 10) == []

    # a non-examining office gets 403 for copies, the list shows the published week
    assert client.get(f"{API}/publication/copy/confidential/202647", headers=offices["JP"]).status_code == 403
    listing = client.get(f"{API}/publication/bulletin", headers=offices["JP"])
    schema("hws-api-v1.xsd").assertValid(safexml.parse(listing.content))
    assert b"<hws:WeekIdentifier>202647</hws:WeekIdentifier>" in listing.content

    # rebuilding gives byte-identical output
    publisher = Publisher(service)
    ref, _ = publisher.build_bulletin(week)
    assert ref.sha256 == hashlib.sha256(bulletin.content).hexdigest()
    ref, _ = publisher.build_confidential_copy(week, "US")
    assert ref.sha256 == hashlib.sha256(copy.content).hexdigest()


def test_downloads_honour_ranges_and_validators(world) -> None:  # type: ignore[no-untyped-def]
    service, clock, client, offices = world
    register_application(service, client, offices["KR"])
    clock.advance(5 * 86400)
    tick(service)
    headers = offices["US"]
    url = f"{API}/publication/bulletin/202647"
    full = client.get(url, headers=headers)
    etag, size = full.headers["etag"], len(full.content)
    assert full.headers["accept-ranges"] == "bytes"
    digest = __import__("base64").b64encode(hashlib.sha256(full.content).digest()).decode()
    assert full.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert client.get(url, headers={**headers, "If-None-Match": etag}).status_code == 304
    part = client.get(url, headers={**headers, "Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == full.content[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{size}"
    tail = client.get(url, headers={**headers, "Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == full.content[-50:]
    resume = client.get(url, headers={**headers, "Range": f"bytes={size - 7}-", "If-Range": etag})
    assert resume.status_code == 206 and resume.content == full.content[-7:]
    changed = client.get(url, headers={**headers, "Range": "bytes=0-9", "If-Range": '"other"'})
    assert changed.status_code == 200 and changed.content == full.content
    beyond = client.get(url, headers={**headers, "Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    head = client.head(url, headers=headers)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size


@pytest.mark.parametrize(("week", "status"), [("2026-47", 400), ("202654", 400), ("202553", 400), ("202653", 404), ("abc", 400)])
def test_week_ids(world, week: str, status: int) -> None:  # type: ignore[no-untyped-def]
    _service, _clock, client, offices = world
    response = client.get(f"{API}/publication/bulletin/{week}", headers=offices["US"])
    assert response.status_code == status, response.text


def test_catch_up_after_downtime(world) -> None:  # type: ignore[no-untyped-def]
    service, clock, client, offices = world
    register_application(service, client, offices["KR"])
    clock.advance(26 * 86400)  # four Fridays pass while "down"
    assert tick(service)["published"] == ["202647", "202648", "202649", "202650"]
    assert [p.week for p in pub_store.listing(service.engine, "bulletin")] == ["202647"]
    empty = client.get(f"{API}/publication/bulletin/202649", headers=offices["US"])
    assert empty.status_code == 404 and b"nothing-published" in empty.content and "retry-after" not in empty.headers
    before = client.get(f"{API}/publication/bulletin/202646", headers=offices["US"])
    assert before.status_code == 404 and b"not-found" in before.content


def test_registrations_are_streamed_from_the_database_in_irn_order(world) -> None:  # type: ignore[no-untyped-def]
    """The publisher holds no list of registrations: it counts them, then streams them in
    IRN order while the writer writes — the same bytes as the writer given a list."""
    from hws.st96 import publication as writer

    service, clock, client, offices = world
    irns = [register_application(service, client, offices["KR"]) for _ in range(3)]
    clock.advance(5 * 86400)
    publisher = Publisher(service)
    week = Week.parse("202647")
    inputs = publisher.inputs(week)
    assert isinstance(inputs.registrations, writer.RegistrationStream) and len(inputs.registrations) == 3
    streamed = list(inputs.registrations)
    assert [r.irn for r in streamed] == sorted(irns)
    assert [r.irn for r in inputs.registrations] == sorted(irns)  # streamed again, from the database

    ref, summary = publisher.build_bulletin(week, inputs)
    listed = io.BytesIO()
    publication_date = publisher.schedule.publication_date(week)
    again = writer.write_bulletin(listed, week=week.id, publication_date=publication_date,
                                  registrations=list(reversed(streamed)), open_blob=service.files.open)  # fmt: skip
    assert ref.sha256 == hashlib.sha256(listed.getvalue()).hexdigest() and summary == again
    assert summary.registrations == tuple(sorted(irns)) and summary.entry_count == len(entries(listed.getvalue()))

    # confidential copies: only the registrations designating the office are streamed
    us = inputs.recorded("US")
    assert len(us) == 3
    ref, summary = publisher.build_confidential_copy(week, "US", inputs)
    copy = io.BytesIO()
    writer.write_confidential_copy(copy, week=week.id, office="US", publication_date=publication_date,
                                   registrations=streamed, open_blob=service.files.open)  # fmt: skip
    assert ref.sha256 == hashlib.sha256(copy.getvalue()).hexdigest()
    assert len(inputs.recorded("FR")) == 0
    with pytest.raises(writer.NothingToPublish):
        publisher.build_confidential_copy(week, "FR", inputs)


def test_publication_reads_the_record_not_the_offices_xml(world, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The package is understood once, at import: the week's issues come out the same when
    the office's XML cannot be read at all, and a record stored before the record version
    (no parties, Acts or details) gets them from that XML, to the same bytes."""
    from hws.st96.package import RECORD_VERSION
    from hws.store import service_requests as sr_store
    from hws.store.tables import service_requests as sr_table

    service, _clock, client, offices = world
    register_application(service, client, offices["KR"])
    week = Week.parse("202647")
    publisher = Publisher(service)
    bulletin, _ = publisher.build_bulletin(week)
    copy, _ = publisher.build_confidential_copy(week, "US")

    (sr,) = sr_store.find(service.engine)
    assert sr.data["record_version"] == RECORD_VERSION and sr.content.holders[0].city == "Seoul"
    xml_blobs = {f.sha256 for f in sr_store.files(service.engine, sr.srn) if f.kind == "ST96_XML"}
    real_open = service.files.open

    def no_xml(sha256: str):  # type: ignore[no-untyped-def]
        if sha256 in xml_blobs:
            raise AssertionError("publication read the office's XML")
        return real_open(sha256)

    with monkeypatch.context() as patch:
        patch.setattr(service.files, "open", no_xml)
        assert publisher.build_bulletin(week)[0].sha256 == bulletin.sha256
        assert publisher.build_confidential_copy(week, "US")[0].sha256 == copy.sha256

    import json

    legacy = {k: v for k, v in sr.data.items() if k not in (
        "record_version", "holders", "representatives", "designations", "language", "applicant_reference", "decision_details"
    )}  # fmt: skip
    legacy["designs"] = [
        {k: v for k, v in d.items() if k not in ("description", "locarno_edition", "priorities")} for d in sr.data["designs"]
    ]
    with service.engine.begin() as conn:
        conn.execute(sr_table.update().where(sr_table.c.srn == sr.srn).values(data=json.dumps(legacy)))
    assert not sr_store.get(service.engine, sr.srn).content.details_read  # type: ignore[union-attr]
    assert publisher.build_bulletin(week)[0].sha256 == bulletin.sha256
    assert publisher.build_confidential_copy(week, "US")[0].sha256 == copy.sha256
