"""The dashboard, publications, audit log and schema sets pages in Debian's Chromium
against the real server (sandbox calendar, the scheduler off so that the console builds
the week): the dashboard names the due week and its registration, an administrator builds
it (confirming), opens the bulletin, verifies it and downloads it; the audit log shows
the actions with the operator and address. A viewer sees no action. Each page is checked
with axe-core and photographed under ``test-artifacts/console/``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog

from hws.client import HagueClient
from hws.domain.weeks import Schedule, Week
from hws.st96.examples import example_package
from tests.support.console_browser import add_operator, browser, check_accessibility, screenshot, sign_in
from tests.support.servers import RunningServer, start_server

pytestmark = pytest.mark.e2e

SANDBOX: dict[str, str | None] = {"HWS_SANDBOX": "1", "HWS_SCHEDULER": "0", "HWS_WORKER_POLL_INTERVAL": "0.1"}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as launched:
        yield launched


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "server", extra_env=SANDBOX)
    yield server
    server.stop()


def _audit(server: RunningServer, action: str) -> list[dict[str, object]]:
    return list(json.loads(server.hws("admin", "audit", "--action", action, "--json").stdout))


def _register(server: RunningServer, kr: HagueClient, tmp_path: Path) -> dict[str, str]:
    package = tmp_path / "KR-CONSOLE-1.zip"
    package.write_bytes(
        example_package("application", office="KR", office_reference="KR-CONSOLE-1", deferment=None, immediate_publication=True)
    )
    srn = kr.wait_for_import(kr.submit(package).import_id, timeout=60).srn
    assert srn
    server.hws("admin", "sr", "take-up", srn)
    return json.loads(server.hws("admin", "sr", "register", srn, "--json").stdout)


def test_an_administrator_builds_verifies_and_downloads_a_week(chromium: Browser, sandbox: RunningServer, tmp_path: Path) -> None:
    server = sandbox
    server.enrol("US", "--examining")
    with server.enrol("KR") as kr:
        registered = _register(server, kr, tmp_path)
    irn = registered["irn"]
    week = Week.of(date.fromisoformat(registered["expected_publication"]))
    now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
    moved = server.hws("admin", "clock", "advance", f"{int((Schedule().moment(week) - now).total_seconds()) + 60}s")
    assert moved.returncode == 0

    admin = add_operator(server, "grace", "administrator")
    page = sign_in(chromium, server, admin)
    assert page.get_by_role("heading", name="Dashboard", level=1).is_visible()
    # the weeks since the filing are due (the scheduler is off): the registration's week among them
    due = page.locator("#overdue tbody tr")
    rows = [due.nth(i).locator("td").all_inner_texts() for i in range(due.count())]
    assert rows[-1] == [week.id, Schedule().publication_date(week).isoformat(), "1"]
    assert all(count == "0" for _week, _date, count in rows[:-1])
    assert page.locator("#next-week").inner_text().startswith(rows[0][0])
    if len(rows) == 1:
        assert irn in page.locator("#next-sample").inner_text()
    check_accessibility(page, "dashboard")
    screenshot(page, "dashboard-weeks-due")

    page.get_by_role("link", name="Publications", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Publications", level=1).is_visible()
    assert "Nothing published yet." in page.locator("table").inner_text()
    check_accessibility(page, "publications before")

    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.get_by_role("button", name="Build now").click()
    page.wait_for_load_state()
    assert asked and asked[0].startswith("Publish every due week now")
    weeks = ", ".join(r[0] for r in rows)
    assert page.get_by_role("status").inner_text() == f"Published week{'s' if len(rows) > 1 else ''} {weeks}: 2 file(s)."
    table = page.locator("table").inner_text()
    assert f"{week.id} bulletin" in table and f"{week.id} US confidential" in table
    check_accessibility(page, "publications list")
    screenshot(page, "publications-list")

    page.get_by_role("link", name=f"{week.id} bulletin").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name=f"Bulletin of week {week.id}", level=1).is_visible()
    assert page.locator("dd.registrations").inner_text() == "1"
    page.get_by_role("button", name=f"Verify bulletin {week.id}").click()
    page.wait_for_load_state()
    assert "matches its record" in page.get_by_role("status").inner_text()
    assert "matches its record" in page.locator("dd.last-verified").inner_text()
    check_accessibility(page, "publication page")
    screenshot(page, "publication-bulletin")

    with page.expect_download() as caught:
        page.get_by_role("link", name=f"Download bulletin {week.id} (ZIP)").click()
    download = caught.value
    assert download.suggested_filename == f"bulletin-{week.id}.zip"
    digest = hashlib.sha256(Path(download.path()).read_bytes()).hexdigest()
    assert digest in page.locator("dd.digest").inner_text()

    page.get_by_role("link", name="Audit log", exact=True).click()
    page.wait_for_load_state()
    page.get_by_label("Action (* wildcard)").fill("publication.*")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    logged = page.locator("table.audit tbody").inner_text()
    assert "publication.built" in logged and "publication.verified" in logged and "publication.downloaded" in logged
    check_accessibility(page, "audit log")
    screenshot(page, "audit-log")

    page.get_by_role("link", name="Schema sets", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#structural-versions").inner_text() == "V6_0"
    check_accessibility(page, "schema sets")
    screenshot(page, "schema-sets")

    [built] = _audit(server, "publication.built")
    assert (built["actor"], built["source"]) == ("operator:grace", "127.0.0.1")
    assert built["detail"]["weeks"] == [r[0] for r in rows]  # type: ignore[index]
    [verified] = _audit(server, "publication.verified")
    assert (verified["actor"], verified["outcome"], verified["target"]) == ("operator:grace", "ok", f"bulletin/{week.id}")

    viewer = add_operator(server, "vera", "viewer")
    seen = sign_in(chromium, server, viewer)
    seen.goto(f"{server.url}/console/publications/bulletin/{week.id}")
    assert seen.get_by_role("link", name=f"Download bulletin {week.id} (ZIP)").is_visible()
    assert seen.get_by_role("button", name=f"Verify bulletin {week.id}").count() == 0
    seen.goto(f"{server.url}/console/publications")
    assert seen.get_by_role("button", name="Build now").count() == 0
    seen.context.close()
    page.context.close()
