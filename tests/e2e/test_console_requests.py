"""The service requests pages in Debian's Chromium against the real server: an office's
application is listed, found by its office reference, opened (its reproductions drawn
on the server, its XML as text), taken up and notified of an irregularity through the
confirmed forms — each move in the audit log with the operator and their address. A
viewer sees the page without the forms. Each page is checked with axe-core and
photographed under ``test-artifacts/console/``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog

from hws.st96.examples import example_package
from tests.support.console_browser import add_operator, browser, check_accessibility, screenshot, sign_in
from tests.support.servers import RunningServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as launched:
        yield launched


def _transitions(server: RunningServer) -> list[dict[str, object]]:
    return list(json.loads(server.hws("admin", "audit", "--action", "sr.transition", "--json").stdout))


def _import(server: RunningServer, tmp_path: Path, reference: str) -> str:
    package = tmp_path / f"{reference}.zip"
    package.write_bytes(example_package("application", office="KR", office_reference=reference))
    with server.enrol("KR") as kr:
        done = kr.wait_for_import(kr.submit(package).import_id, timeout=60)
    assert done.status == "Imported" and done.srn, done
    return done.srn


def test_an_examiner_finds_opens_and_examines_a_request(chromium: Browser, server: RunningServer, tmp_path: Path) -> None:
    srn = _import(server, tmp_path, "KR-CONSOLE-1")
    other = _import(server, tmp_path, "KR-CONSOLE-2")
    examiner = add_operator(server, "erika", "examiner")
    page = sign_in(chromium, server, examiner)
    confirmations: list[str] = []

    def confirm(dialog: Dialog) -> None:
        confirmations.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)

    page.get_by_role("link", name="Service requests", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Service requests", level=1).is_visible()
    assert page.get_by_role("link", name=srn).is_visible() and page.get_by_role("link", name=other).is_visible()
    check_accessibility(page, "service requests list")
    screenshot(page, "requests-list")

    page.get_by_label("SRN, IRN or office reference").fill("console-1")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert "q=console-1" in page.url
    assert page.get_by_role("link", name=srn).is_visible() and page.get_by_role("link", name=other).count() == 0
    screenshot(page, "requests-search")

    page.get_by_role("link", name=srn).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name=f"Service request {srn}", level=1).is_visible()
    images = page.locator(".thumbs img")
    assert images.count() == 3
    for i in range(images.count()):  # each decoded by the browser: a PNG the server drew
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
        assert "/thumbnail" in (images.nth(i).get_attribute("src") or "")
    assert "<dgn:HagueOfficeToIBTransaction" in page.locator("pre.xml").inner_text()  # the XML, as text
    assert page.locator("pre.xml *").count() == 0  # nothing in it rendered as elements
    check_accessibility(page, "service request")
    screenshot(page, "request-undefined")

    page.get_by_role("button", name=f"Take up {srn}").click()
    page.wait_for_load_state()
    assert confirmations == [f"Take up {srn} for examination?"]
    assert page.get_by_role("status").inner_text() == f"{srn} is now Processing"

    form = page.locator(f"form[action='/console/requests/{srn}/irregularity']")
    form.get_by_label("The irregularity (the office reads this)").fill("Reproduction 1.2 is unclear")
    form.get_by_label("Yes, a fee shortfall", exact=False).check()
    check_accessibility(page, "service request in examination")
    screenshot(page, "request-processing")
    form.get_by_role("button", name="Notify the irregularity").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == f"{srn} is now Pending Regularization"
    facts = page.locator("dl.facts").inner_text()
    assert "Regularization deadline" in facts and "fee shortfall" in facts
    assert (
        "Reproduction 1.2 is unclear" in page.locator("table", has=page.get_by_role("columnheader", name="Reason")).inner_text()
    )
    check_accessibility(page, "service request pending regularization")
    screenshot(page, "request-pending")

    moves = [e for e in _transitions(server) if e["target"] == srn]
    assert sorted((e["detail"]["from"], e["detail"]["to"]) for e in moves) == [  # type: ignore[index]
        ("Processing", "Pending Regularization"),
        ("Undefined", "Processing"),
    ]
    assert all(e["actor"] == "operator:erika" and e["source"] == "127.0.0.1" for e in moves)

    viewer = add_operator(server, "vera", "viewer")
    watching = sign_in(chromium, server, viewer)
    watching.goto(f"{server.url}/console/requests/{srn}")
    assert watching.get_by_role("heading", name=f"Service request {srn}", level=1).is_visible()
    assert watching.locator("form[action$='/regularize']").count() == 0
    check_accessibility(watching, "service request for a viewer")
