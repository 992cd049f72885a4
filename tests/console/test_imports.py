"""The rejected-imports pages in process: packages submitted through the API and refused
by the worker are listed newest first, filtered by office and day, paged, each with
every problem the validator stored on the import."""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from hws.console import imports as imports_page
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.st96.examples import example_package
from hws.store import imports as import_store
from hws.worker.runner import Worker
from tests.api.test_requests import bearer, submit
from tests.conftest import enrol
from tests.console.conftest import Console

SignedIn = Callable[..., Console]


def drain(service: Service) -> None:
    worker = Worker(service)
    while worker.run_once():
        pass


def import_id_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 202, response.text
    return str(response.headers["location"]).rsplit("/", 1)[1]


def bad_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", "<a/>")
        archive.writestr("b.xml", "<b/>")
        archive.writestr("../evil.pdf", "%PDF-1.4")
    return buffer.getvalue()


@pytest.fixture
def rejected(console_service: Service, signed_in: SignedIn) -> tuple[Console, dict[str, str]]:
    """Three packages refused (two from KR, one from US) and one imported, through the API."""
    viewer = signed_in(Role.VIEWER)
    kr = bearer(viewer.client, enrol(console_service, office="KR"))
    us = bearer(viewer.client, enrol(console_service, office="US"))
    ids = {
        "kr-zip": import_id_of(submit(viewer.client, kr, bad_zip())),
        "kr-junk": import_id_of(submit(viewer.client, kr, b"not a zip at all")),
        "us-mismatch": import_id_of(submit(viewer.client, us, example_package("application", office="KR"))),
        "kr-good": import_id_of(submit(viewer.client, kr, example_package("application", office="KR"))),
    }
    drain(console_service)
    statuses = {name: import_store.get(console_service.engine, i).status for name, i in ids.items()}  # type: ignore[union-attr]
    assert statuses == {"kr-zip": "Rejected", "kr-junk": "Rejected", "us-mismatch": "Rejected", "kr-good": "Imported"}
    return viewer, ids


def listed(response) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r'href="/console/imports/([^"?]+)"', response.text)


def test_rejected_imports_are_listed_newest_first(console_service: Service, rejected) -> None:  # type: ignore[no-untyped-def]
    viewer, ids = rejected
    page = viewer.get("/console/imports")
    assert page.status_code == 200
    records = [import_store.get(console_service.engine, ids[n]) for n in ("kr-zip", "kr-junk", "us-mismatch")]
    newest_first = sorted(records, key=lambda r: (r.processed_at, r.import_id), reverse=True)  # type: ignore[union-attr]
    assert listed(page) == [r.import_id for r in newest_first]  # type: ignore[union-attr]
    assert ids["kr-good"] not in page.text
    body = html.unescape(page.text)
    assert "3 rejected imports" in body
    row = re.search(rf"<tr>\s*<td><a href=\"/console/imports/{ids['kr-zip']}\">.*?</tr>", page.text, re.S)
    assert row is not None
    assert "package-several-xml" in row.group(0) and "zip-entry-traversal" in row.group(0)
    assert "<td>KR</td>" in row.group(0)


def test_filters_by_office_and_day(console_service: Service, rejected) -> None:  # type: ignore[no-untyped-def]
    viewer, ids = rejected
    only_us = viewer.get("/console/imports", params={"office": "us"})
    assert listed(only_us) == [ids["us-mismatch"]]
    today = import_store.get(console_service.engine, ids["kr-zip"]).processed_at.date()  # type: ignore[union-attr]
    same_day = viewer.get("/console/imports", params={"since": today.isoformat(), "until": today.isoformat()})
    assert len(listed(same_day)) == 3
    later = viewer.get("/console/imports", params={"since": (today + timedelta(days=1)).isoformat()})
    assert listed(later) == [] and "No rejected imports match these filters" in later.text
    earlier = viewer.get("/console/imports", params={"until": (today - timedelta(days=1)).isoformat(), "office": "KR"})
    assert listed(earlier) == []
    kr_today = viewer.get("/console/imports", params={"since": today.isoformat(), "office": "KR"})
    assert sorted(listed(kr_today)) == sorted([ids["kr-zip"], ids["kr-junk"]])
    bad = viewer.get("/console/imports", params={"since": "yesterday", "office": "Q"})
    assert bad.status_code == 422
    text = html.unescape(bad.text)
    assert "Rejected from: not a date (YYYY-MM-DD): 'yesterday'" in text and "office code must be two letters" in text


def test_pages(console_service: Service, rejected, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    viewer, _ids = rejected
    monkeypatch.setattr(imports_page, "PAGE_SIZE", 2)
    everything = import_store.finished(console_service.engine, limit=10)[0]
    first = viewer.get("/console/imports", params={"office": "KR"})
    assert "Page 1 of 1" not in first.text  # two KR: one page, no pager
    first = viewer.get("/console/imports")
    assert listed(first) == [r.import_id for r in everything[:2]] and "Page 1 of 2" in first.text
    older = re.search(r'href="(/console/imports\?[^"]+)">Older rejected imports', first.text)
    assert older is not None
    second = viewer.get(html.unescape(older.group(1)))
    assert listed(second) == [everything[2].import_id] and "Page 2 of 2" in second.text
    assert "Newer rejected imports" in second.text and "Older rejected imports" not in second.text


def test_one_import_with_every_problem(console_service: Service, rejected) -> None:  # type: ignore[no-untyped-def]
    viewer, ids = rejected
    record = import_store.get(console_service.engine, ids["kr-zip"])
    assert record is not None and len(record.problems) >= 2
    page = viewer.get(f"/console/imports/{ids['kr-zip']}")
    assert page.status_code == 200
    body = html.unescape(page.text)
    rows = re.findall(r"<tr>\s*<td>(?:error|warning)</td>.*?</tr>", page.text, re.S)
    assert len(rows) == len(record.problems)
    for problem, row in zip(record.problems, rows, strict=True):
        shown = html.unescape(row)
        assert f"<code>{problem['code']}</code>" in shown and problem["message"] in shown
        if problem.get("entry"):
            assert problem["entry"] in shown
    assert "../evil.pdf" in body and "Rejected" in body and record.blob_sha256 in body
    assert f"/console/clients/{record.client_id}" in page.text

    mismatch = import_store.get(console_service.engine, ids["us-mismatch"])
    assert mismatch is not None
    located = [p for p in mismatch.problems if p.get("path")]
    assert located, mismatch.problems  # the validator names where in the XML
    shown = html.unescape(viewer.get(f"/console/imports/{ids['us-mismatch']}").text)
    assert "office-code-mismatch" in shown and located[0]["path"] in shown and located[0]["entry"] in shown

    missing = viewer.get("/console/imports/no-such-import")
    assert missing.status_code == 404 and "There is no import with ID" in missing.text


def test_sign_in_needed(console_service: Service) -> None:
    from starlette.testclient import TestClient

    from hws.api.app import create_app

    with TestClient(create_app(console_service), base_url="http://hws.test", follow_redirects=False) as anonymous:
        response = anonymous.get("/console/imports")
        assert response.status_code == 303 and "/console/sign-in" in response.headers["location"]


def test_failed_imports_are_shown_with_their_last_error(console_service: Service, signed_in: SignedIn) -> None:
    """A package whose every processing attempt failed stays pending with a dead job: it
    is listed apart, with the job and its last error."""
    viewer = signed_in(Role.VIEWER)
    kr = bearer(viewer.client, enrol(console_service, office="KR"))
    stuck = import_id_of(submit(viewer.client, kr, example_package("application", office="KR")))
    job = console_service.jobs.claim("test-worker")
    assert job is not None and job.ref == stuck
    # the queue's own failure path, at the last attempt: the job is dead
    assert console_service.jobs.fail(replace(job, attempts=job.max_attempts), "OSError: blob store unreachable\nmore") == "dead"

    page = viewer.get("/console/imports")
    assert page.status_code == 200
    failed = page.text.split("Failed imports: not processed", 1)[1]
    assert stuck in failed and "OSError: blob store unreachable" in failed and "more" not in failed
    assert f'<td class="num">{job.id}</td>' in failed
    assert stuck not in page.text.split("Failed imports", 1)[0].split("<tbody>", 1)[1]  # not among the rejected
    assert "Failed imports" not in viewer.get("/console/imports", params={"office": "US"}).text

    detail = html.unescape(viewer.get(f"/console/imports/{stuck}").text)
    assert "Processing failed" in detail and f"hws admin jobs retry {job.id}" in detail
    assert "OSError: blob store unreachable\nmore" in detail and "Pending" in detail
