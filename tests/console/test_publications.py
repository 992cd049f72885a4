"""The publications pages in process, over a service whose business calendar is a clock the
test moves: a registration published by the real Publisher, the list and a week's page
with the stored summary, the download, and the administrator's actions (build now,
verify — a tampered blob is reported), each audited with the operator; other roles and
forms without this session's CSRF token are refused."""

from __future__ import annotations

import hashlib
import html
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.console import publications as publications_page
from hws.domain.clock import FixedClock
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.st96.examples import example_package
from hws.store import audit as audit_store
from hws.store import publications as pub_store
from hws.store import service_requests as sr_store
from hws.usecases.examination import Examiner
from hws.usecases.publishing import Publisher
from tests.api.test_requests import bearer, drain, submit
from tests.conftest import enrol, make_service
from tests.console.conftest import BASE, Console, sign_in

#: the calendar starts on the Monday of week 202647 (the real clock signs operators in)
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC).timestamp()
DAY = 86400


@dataclass
class World:
    service: Service
    calendar: FixedClock
    api: TestClient
    offices: dict[str, dict[str, str]]

    def console(self, role: Role, name: str | None = None) -> Console:
        return sign_in(self.service, name or f"{role.value}-op", role)

    def register(self, office: str = "KR") -> str:
        """An application with immediate publication submitted, imported and registered: its IRN."""
        response = submit(
            self.api,
            self.offices[office],
            example_package("application", office=office, immediate_publication=True, deferment=None),
        )
        assert response.status_code == 202, response.text
        drain(self.service)
        srn = max(r.srn for r in sr_store.find(self.service.engine))
        examiner = Examiner(self.service)
        examiner.take_up(srn, actor="operator:test")
        irn = examiner.register(srn, actor="operator:test").irn
        assert irn
        return irn


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    calendar = FixedClock(START)
    service = make_service(tmp_path, database_url, calendar=calendar, worker_threads=0, scheduler=False)
    api = TestClient(create_app(service), base_url=BASE, client=("127.0.0.1", 50000))
    offices = {
        "KR": bearer(api, enrol(service, office="KR")),
        "US": bearer(api, enrol(service, office="US", examining=True)),
    }
    yield World(service, calendar, api, offices)
    api.close()
    service.close()


@pytest.fixture
def published(world: World) -> tuple[World, str]:
    """Week 202647 published by the Publisher (bulletin and the US copy), holding one IRN."""
    irn = world.register()
    world.calendar.advance(5 * DAY)  # Saturday: Friday noon has passed
    assert [p.week for p in Publisher(world.service).publish(Publisher(world.service).due()[0])] == ["202647", "202647"]
    return world, irn


def xml_of(blob: bytes) -> bytes:
    """The ST.96 XML inside a published ZIP."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith(".xml")))


def events(service: Service, action: str) -> list[dict[str, object]]:
    service.audit.flush()
    return audit_store.query(service.engine, action=action)


def test_list_shows_bulletin_and_confidential_copy(published: tuple[World, str]) -> None:
    world, _irn = published
    viewer = world.console(Role.VIEWER)
    page = viewer.get("/console/publications")
    assert page.status_code == 200
    records = {(p.kind, p.office): p for p in pub_store.for_week(world.service.engine, "202647")}
    assert set(records) == {("bulletin", ""), ("confidential", "US")}
    for record in records.values():
        assert record.sha256 and record.sha256[:16] in page.text
        assert f">{record.size}<" in page.text
    assert 'href="/console/publications/bulletin/202647"' in page.text
    assert 'href="/console/publications/confidential/202647?office=US"' in page.text
    assert "Build now" not in page.text  # a viewer has no action form


def test_week_page_shows_the_stored_summary_and_downloads(published: tuple[World, str]) -> None:
    world, irn = published
    viewer = world.console(Role.VIEWER)
    bulletin = pub_store.get(world.service.engine, "bulletin", "202647")
    assert bulletin and bulletin.sha256 and bulletin.registrations == 1
    page = viewer.get("/console/publications/bulletin/202647")
    assert page.status_code == 200
    assert bulletin.sha256 in page.text
    assert re.search(r'class="registrations">1<', page.text)
    assert f"{bulletin.size} bytes" in page.text
    assert "never" in page.text  # not verified yet

    download = viewer.get("/console/publications/bulletin/202647/download")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="bulletin-202647.zip"'
    assert hashlib.sha256(download.content).hexdigest() == bulletin.sha256
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        files = [i for i in archive.infolist() if not i.is_dir()]
    xml = [i.filename for i in files if i.filename.endswith(".xml")]
    images = sum(1 for i in files if i.filename.startswith("images/"))
    assert len(xml) == 1 and images >= 1
    described = re.search(r'class="contents">([^<]*)<', page.text)
    assert described and html.unescape(described.group(1)) == (
        f"{len(files)} files ({sum(i.file_size for i in files)} bytes unpacked): {xml[0]}, {images} image{'s' if images != 1 else ''}"
    )
    assert irn.encode() in xml_of(download.content)
    copy = viewer.get("/console/publications/confidential/202647/download?office=US")
    assert copy.status_code == 200 and "confidential-US-202647.zip" in copy.headers["content-disposition"]

    downloaded = events(world.service, "publication.downloaded")
    assert {(e["actor"], e["target"], e["source"]) for e in downloaded} == {
        (f"operator:{viewer.name}", "bulletin/202647", "127.0.0.1"),
        (f"operator:{viewer.name}", "confidential/202647/US", "127.0.0.1"),
    }
    assert viewer.get("/console/publications/bulletin/202648").status_code == 404
    assert viewer.get("/console/publications/bulletin/2026xx").status_code == 404
    assert viewer.get("/console/publications/other/202647").status_code == 404
    assert viewer.get("/console/publications/confidential/202647/download?office=JP").status_code == 404


def test_build_now_publishes_the_due_weeks_audited_with_the_operator(world: World) -> None:
    irn = world.register()
    admin = world.console(Role.ADMINISTRATOR, "alice")
    before = admin.get("/console/publications")
    assert "Build now" in before.text and "Due and not yet published" not in before.text

    nothing = admin.post("/console/publications/build")
    assert nothing.status_code == 303
    assert pub_store.for_week(world.service.engine, "202647") == []
    assert "Nothing to publish" in html.unescape(admin.get("/console/publications").text)

    world.calendar.advance(5 * DAY)
    due = admin.get("/console/publications")
    assert re.search(r"Due and not yet published: 202647\.", due.text)
    built = admin.post("/console/publications/build")
    assert built.status_code == 303 and built.headers["location"] == "/console/publications"
    records = pub_store.for_week(world.service.engine, "202647")
    assert {(p.kind, p.office, p.registrations) for p in records} == {("bulletin", "", 1), ("confidential", "US", 1)}
    after = admin.get("/console/publications")
    assert "Published week 202647: 2 file(s)." in html.unescape(after.text)
    assert "Due and not yet published" not in after.text

    built_events = events(world.service, "publication.built")
    assert [(e["actor"], e["source"], e["outcome"], e["target"]) for e in built_events] == [
        ("operator:alice", "127.0.0.1", "ok", "202647"),
        ("operator:alice", "127.0.0.1", "nothing-due", None),
    ]
    assert built_events[0]["detail"] == {"weeks": ["202647"], "files": ["bulletin/202647", "confidential/202647/US"], "empty": []}
    # the publisher's own records of each file, as when the scheduler publishes
    assert {(e["actor"], e["target"], e["office"]) for e in events(world.service, "publication.published")} == {
        ("publisher", "bulletin/202647", None),
        ("publisher", "confidential/202647", "US"),
    }
    bulletin = admin.get("/console/publications/bulletin/202647/download")
    assert bulletin.status_code == 200 and irn.encode() in xml_of(bulletin.content)


def test_verify_reports_an_intact_file_then_a_tampered_one(published: tuple[World, str]) -> None:
    world, _irn = published
    admin = world.console(Role.ADMINISTRATOR, "bob")
    record = pub_store.get(world.service.engine, "confidential", "202647", "US")
    assert record and record.sha256

    ok = admin.post("/console/publications/confidential/202647/verify", {"office": "US"})
    assert ok.status_code == 303 and ok.headers["location"] == "/console/publications/confidential/202647?office=US"
    page = admin.get(ok.headers["location"])
    assert "matches its record" in html.unescape(page.text) and "by operator:bob" in page.text

    path = world.service.blobs.local_path(record.sha256)
    assert path is not None
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    tampered = hashlib.sha256(data).hexdigest()

    bad = admin.post("/console/publications/confidential/202647/verify", {"office": "US"})
    assert bad.status_code == 303
    page = admin.get(bad.headers["location"])
    text = html.unescape(page.text)
    assert "DOES NOT match its record" in text and tampered in text

    verified = events(world.service, "publication.verified")
    assert [(e["actor"], e["target"], e["office"], e["outcome"], e["source"]) for e in verified] == [
        ("operator:bob", "confidential/202647/US", "US", "mismatch", "127.0.0.1"),
        ("operator:bob", "confidential/202647/US", "US", "ok", "127.0.0.1"),
    ]
    assert verified[0]["detail"]["found_sha256"] == tampered  # type: ignore[index]
    assert verified[0]["detail"]["recorded_sha256"] == record.sha256  # type: ignore[index]

    path.unlink()
    gone = admin.post("/console/publications/confidential/202647/verify", {"office": "US"})
    missing = html.unescape(admin.get(gone.headers["location"]).text)
    assert "MISSING" in missing and re.search(r'class="contents"><span class="verdict-bad">the stored file is missing<', missing)
    assert events(world.service, "publication.verified")[0]["outcome"] == "missing"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EXAMINER])
def test_other_roles_are_refused_the_actions_even_posted_by_hand(published: tuple[World, str], role: Role) -> None:
    world, _irn = published
    world.register()  # a week 202648 registration
    world.calendar.advance(7 * DAY)  # 202648 is due
    operator = world.console(role)
    page = operator.get("/console/publications/bulletin/202647")
    assert "Verify" not in page.text and "Build now" not in operator.get("/console/publications").text

    refused = operator.post("/console/publications/build")
    assert refused.status_code == 403
    assert pub_store.for_week(world.service.engine, "202648") == []
    assert operator.post("/console/publications/bulletin/202647/verify").status_code == 403
    assert events(world.service, "publication.built") == [] and events(world.service, "publication.verified") == []
    assert {(e["actor"], e["target"]) for e in events(world.service, "console.refused")} == {
        (f"operator:{operator.name}", "/console/publications/build"),
        (f"operator:{operator.name}", "/console/publications/bulletin/202647/verify"),
    }


def test_a_form_without_this_sessions_csrf_token_is_refused(published: tuple[World, str]) -> None:
    world, _irn = published
    admin = world.console(Role.ADMINISTRATOR)
    world.register()
    world.calendar.advance(7 * DAY)
    assert admin.post("/console/publications/build", {"csrf_token": "not-the-token"}).status_code == 403
    assert admin.client.post("/console/publications/build", data={}).status_code == 403
    assert admin.post("/console/publications/bulletin/202647/verify", {"csrf_token": ""}).status_code == 403
    assert pub_store.for_week(world.service.engine, "202648") == []
    assert events(world.service, "publication.built") == [] and events(world.service, "publication.verified") == []
    # the same forms with the session's token go through
    assert admin.post("/console/publications/build").status_code == 303
    assert {p.kind for p in pub_store.for_week(world.service.engine, "202648")} == {"bulletin", "confidential"}


def test_the_list_is_paged_newest_week_first(published: tuple[World, str], monkeypatch: pytest.MonkeyPatch) -> None:
    world, _irn = published
    world.calendar.advance(7 * DAY)
    Publisher(world.service).catch_up()  # 202648: nothing to publish, recorded as such
    monkeypatch.setattr(publications_page, "PER_PAGE", 3)
    viewer = world.console(Role.VIEWER)
    first = viewer.get("/console/publications").text
    assert re.findall(r'href="/console/publications/(\w+/\d{6})', first) == [
        "bulletin/202648",
        "confidential/202648",
        "bulletin/202647",
    ]
    assert "nothing to publish" in first and "Page 1 of 2" in first
    second = viewer.get("/console/publications?page=2").text
    assert re.findall(r'href="/console/publications/(\w+/\d{6})', second) == ["confidential/202647"]
    assert "Newer weeks" in second and "Older weeks" not in second
    empty_week = viewer.get("/console/publications/bulletin/202648")
    assert empty_week.status_code == 200 and "Nothing to publish that week" in empty_week.text
    assert viewer.get("/console/publications/bulletin/202648/download").status_code == 404
