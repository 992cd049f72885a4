"""The dashboard in process: today's imports by outcome (today on the service's calendar),
the job queue, requests by status linking to the list, and the next publication with the
registrations the Publisher would put in it."""

from __future__ import annotations

import html
import io
import re
import zipfile

from hws.domain.operator_roles import Role
from hws.st96.examples import example_package
from hws.store import publications as pub_store
from hws.usecases.publishing import Publisher
from tests.api.test_requests import drain, submit
from tests.console.test_publications import DAY, World, world  # noqa: F401  (the fixture)


def not_a_package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", "<a/>")
        archive.writestr("b.xml", "<b/>")
    return buffer.getvalue()


def fact(page: str, ident: str) -> str:
    found = re.search(rf'id="{ident}"[^>]*>(.*?)</(?:dd|strong|p)>', page, re.S)
    assert found, f"no #{ident} on the page"
    return re.sub(r"<[^>]+>", "", html.unescape(found.group(1))).strip()


def test_dashboard_counts_todays_imports_and_the_queue(world: World) -> None:  # noqa: F811
    viewer = world.console(Role.VIEWER)
    kr = world.offices["KR"]
    assert submit(world.api, kr, not_a_package()).status_code == 202
    irn = world.register()  # submitted, imported, registered
    page = viewer.get("/console/").text
    assert fact(page, "imported-today") == "1"
    assert fact(page, "rejected-today").startswith("1")
    assert 'href="/console/imports?since=2026-11-16&amp;until=2026-11-16"' in page
    assert fact(page, "pending-imports") == "0"
    assert "No job waiting." in page and fact(page, "oldest-job") == "—"
    assert 'href="/console/requests?status=Registered"' in page

    # one more package, not yet validated: waiting in the queue
    assert submit(world.api, kr, example_package("application", office="KR")).status_code == 202
    page = viewer.get("/console/").text
    assert fact(page, "pending-imports") == "1"
    assert re.search(r"<td>import</td><td class=\"num\">1</td>", page)
    assert fact(page, "oldest-job").endswith("s")

    # the next day on the calendar: today's counts start again
    drain(world.service)
    world.calendar.advance(DAY)
    page = viewer.get("/console/").text
    assert fact(page, "imported-today") == "0" and fact(page, "rejected-today").startswith("0")
    assert "2026-11-17" in page
    assert irn in page  # still due in the next bulletin


def test_next_publication_holds_what_the_publisher_would_publish(world: World) -> None:  # noqa: F811
    viewer = world.console(Role.VIEWER)
    irns = [world.register() for _ in range(7)]
    page = viewer.get("/console/").text
    assert fact(page, "next-week").startswith("202647")
    assert "2026-11-20" in page  # Friday of week 202647
    assert 'id="overdue"' not in page
    assert fact(page, "next-registrations") == "7"
    sample = fact(page, "next-sample")
    assert sample.startswith(", ".join(sorted(irns)[:5])) and sample.endswith("and 2 more")
    publisher = Publisher(world.service)
    assert len(publisher.inputs(publisher.schedule.next_after(world.calendar.now())).registrations) == 7  # type: ignore[arg-type]

    world.calendar.advance(5 * DAY)  # Saturday: 202647 is due and not yet published
    page = viewer.get("/console/").text
    assert fact(page, "next-week").startswith("202647")
    assert "Due and not yet published: 1 week." in fact(page, "overdue")
    assert re.search(r"<tr><td>202647</td><td>2026-11-20</td><td class=\"num\">7</td></tr>", page)

    Publisher(world.service).catch_up()
    assert pub_store.get(world.service.engine, "bulletin", "202647") is not None
    page = viewer.get("/console/").text
    assert fact(page, "next-week").startswith("202648")
    assert fact(page, "next-registrations") == "0"
    assert 'id="overdue"' not in page

    world.calendar.advance(14 * DAY)  # the publisher is two weeks behind: the oldest first
    page = viewer.get("/console/").text
    assert fact(page, "next-week").startswith("202648")
    assert "Due and not yet published: 2 weeks." in fact(page, "overdue")
    assert re.findall(r"<tr><td>(\d{6})</td><td>([\d-]+)</td><td class=\"num\">(\d+)</td></tr>", page) == [
        ("202648", "2026-11-27", "0"),
        ("202649", "2026-12-04", "0"),
    ]


def test_the_dashboard_needs_a_session(world: World) -> None:  # noqa: F811
    response = world.api.get("/console/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/console/sign-in")
