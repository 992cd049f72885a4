"""The audit log page and its CSV export in process: filters (actor, action with *,
office, target, days), newest first, pages by event id, the export of the same filters
with formula-looking cells neutralised, and refused filters."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hws.console import audit as audit_page
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.store import audit as audit_store
from tests.conftest import make_service
from tests.console.conftest import Console

SignedIn = Callable[..., Console]


@pytest.fixture
def console_service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    """The console's service on SQLite and on PostgreSQL (the filters are SQL)."""
    service = make_service(tmp_path, database_url, worker_threads=0)
    yield service
    service.close()


def seed(service: Service) -> datetime:
    """Events two days ago, yesterday and today (the service's clock), of two offices."""
    now = service.clock.now()
    rows: list[tuple[datetime, str, str, str | None, str, dict[str, Any]]] = [
        (now - timedelta(days=2), "client-kr", "request.submitted", "KR", "imp-1", {}),
        (now - timedelta(days=1), "worker", "import.rejected", "KR", "imp-1", {"codes": ["zip-unsafe"]}),
        (now - timedelta(days=1), "operator:alice", "publication.verified", "US", "confidential/202647/US", {}),
        (now, "operator:alice", "publication.built", None, "202647", {"weeks": ["202647"]}),
        (now, '=HYPERLINK("http://evil")', "+cmd", None, "-2+3", {"note": "@SUM(A1)"}),
    ]
    with service.engine.begin() as conn:
        for at, actor, action, office, target, detail in rows:
            audit_store.record(
                conn,
                audit_store.AuditEvent(at=at, actor=actor, action=action, office=office, target=target, detail=detail, source="192.0.2.7"),
            )  # fmt: skip
    return now


def shown(page: str) -> list[tuple[str, str]]:
    """(actor, action) of each row of the table, top to bottom."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>\s*<td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>", body)
    return [(html.unescape(a), html.unescape(b)) for a, b in rows]


def day(now: datetime, days_ago: int) -> str:
    return (now - timedelta(days=days_ago)).date().isoformat()


def test_filters_newest_first(console_service: Service, signed_in: SignedIn) -> None:
    viewer = signed_in(Role.VIEWER)
    now = seed(console_service)
    seeded = {"client-kr", "worker", "operator:alice"}  # adding and signing in the viewer was recorded too
    everything = [row for row in shown(viewer.get("/console/audit?action=*.*").text) if row[0] in seeded]
    assert everything == [
        ("operator:alice", "publication.built"),
        ("operator:alice", "publication.verified"),
        ("worker", "import.rejected"),
        ("client-kr", "request.submitted"),
    ]
    assert shown(viewer.get("/console/audit?actor=operator:alice").text) == everything[:2]
    assert shown(viewer.get("/console/audit?action=publication.*").text) == everything[:2]
    assert shown(viewer.get("/console/audit?office=kr").text) == everything[2:]
    assert shown(viewer.get("/console/audit?target=imp-1&action=import.*").text) == [everything[2]]
    yesterday = day(now, 1)
    assert shown(viewer.get(f"/console/audit?since={yesterday}&until={yesterday}").text) == everything[1:3]
    assert shown(viewer.get(f"/console/audit?until={yesterday}").text) == everything[1:]
    assert shown(viewer.get(f"/console/audit?since={day(now, 0)}&action=publication.*").text) == everything[:1]
    seconds = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert re.search(rf"<td>{seconds} UTC</td><td>operator:alice</td>", viewer.get("/console/audit?actor=operator:alice").text)
    page = viewer.get("/console/audit?actor=nobody")
    assert page.status_code == 200 and "No event matches." in page.text
    # the filters stay in the form and in the export link
    filtered = viewer.get("/console/audit?actor=operator:alice&office=US").text
    assert 'value="operator:alice"' in filtered and 'value="US"' in filtered
    assert 'href="/console/audit.csv?actor=operator%3Aalice&amp;office=US"' in filtered


def test_refused_filters(console_service: Service, signed_in: SignedIn) -> None:
    viewer = signed_in(Role.VIEWER)
    bad = viewer.get("/console/audit?since=yesterday")
    assert bad.status_code == 422 and "is not a date" in html.unescape(bad.text)
    backwards = viewer.get("/console/audit?since=2026-02-02&until=2026-02-01")
    assert backwards.status_code == 422 and "before the first" in backwards.text
    assert viewer.get("/console/audit.csv?until=02/01/2026").status_code == 422


def test_pages_by_event_id(console_service: Service, signed_in: SignedIn) -> None:
    viewer = signed_in(Role.VIEWER)
    now = console_service.clock.now()
    total = audit_page.PER_PAGE + 30
    with console_service.engine.begin() as conn:
        for n in range(total):
            audit_store.record(conn, audit_store.AuditEvent(at=now, actor="pager", action="test.paged", target=f"t-{n:04d}"))
    first = viewer.get("/console/audit?action=test.paged").text
    targets = re.findall(r"<td>(t-\d{4})</td>", first)
    assert targets == [f"t-{n:04d}" for n in range(total - 1, total - 1 - audit_page.PER_PAGE, -1)]
    older = re.search(r'href="(\?[^"]*before=\d+[^"]*)" id="older"', first)
    assert older
    second = viewer.get("/console/audit" + html.unescape(older.group(1))).text
    assert re.findall(r"<td>(t-\d{4})</td>", second) == [f"t-{n:04d}" for n in range(29, -1, -1)]
    assert 'id="older"' not in second and "Newest first" in second


def test_csv_export_with_filters_and_formulas_neutralised(console_service: Service, signed_in: SignedIn) -> None:
    viewer = signed_in(Role.VIEWER)
    seed(console_service)
    response = viewer.get("/console/audit.csv?actor=operator:alice")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(r'attachment; filename="audit-\d{8}T\d{6}Z\.csv"', response.headers["content-disposition"])
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["actor"], r["action"], r["office"], r["source"]) for r in rows] == [
        ("operator:alice", "publication.built", "", "192.0.2.7"),
        ("operator:alice", "publication.verified", "US", "192.0.2.7"),
    ]
    assert rows[0]["detail"] == '{"weeks": ["202647"]}'

    hostile = list(csv.DictReader(io.StringIO(viewer.get('/console/audit.csv?actor==HYPERLINK("http://evil")').text)))
    assert len(hostile) == 1
    assert hostile[0]["actor"] == '\'=HYPERLINK("http://evil")'
    assert hostile[0]["action"] == "'+cmd"
    assert hostile[0]["target"] == "'-2+3"
    assert hostile[0]["detail"] == '{"note": "@SUM(A1)"}'  # starts with "{": not a formula
    assert audit_page.neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert audit_page.neutralise("plain") == "plain" and audit_page.neutralise(None) == ""

    # the export is recorded, with the operator and address
    console_service.audit.flush()
    exported = audit_store.query(console_service.engine, action="audit.exported")
    assert exported and exported[0]["actor"] == f"operator:{viewer.name}" and exported[0]["source"] == "127.0.0.1"


def test_csv_export_reads_past_one_batch(console_service: Service, signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch) -> None:
    viewer = signed_in(Role.VIEWER)
    monkeypatch.setattr(audit_page, "EXPORT_BATCH", 7)
    now = console_service.clock.now()
    with console_service.engine.begin() as conn:
        for n in range(23):
            audit_store.record(conn, audit_store.AuditEvent(at=now, actor="batch", action="test.batch", target=str(n)))
    rows = list(csv.DictReader(io.StringIO(viewer.get("/console/audit.csv?actor=batch").text)))
    assert [r["target"] for r in rows] == [str(n) for n in range(22, -1, -1)]
