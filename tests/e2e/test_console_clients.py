"""The clients pages in Debian's Chromium against the real server: an administrator enrols
a client from a certificate file (the file chooser), then changes its allow-list — the
change shown before and after, applied once confirmed — and both actions are in the
audit log with the operator and their address. A viewer reads a rejected import's
problems. Each page is checked with axe-core and photographed under
``test-artifacts/console/``."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from hws.keys.certificates import read_certificate
from tests.support.certificates import self_signed
from tests.support.console_browser import add_operator, browser, check_accessibility, screenshot, sign_in
from tests.support.jose import new_ec_key
from tests.support.servers import RunningServer

#: one worker runs the module: its module-scoped fixture is set up once, not once per worker
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console-clients")]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as launched:
        yield launched


def _audit(server: RunningServer, action: str) -> list[dict[str, object]]:
    return list(json.loads(server.hws("admin", "audit", "--action", action, "--json").stdout))


def test_an_administrator_enrols_a_client_and_changes_its_allow_list(
    chromium: Browser, server: RunningServer, tmp_path: Path
) -> None:
    certificate = tmp_path / "kipo.pem"
    certificate.write_bytes(self_signed(new_ec_key(), cn="KIPO console enrolment"))
    kid = read_certificate(certificate.read_bytes()).kid
    admin = add_operator(server, "ada", "administrator")
    page = sign_in(chromium, server, admin)

    page.get_by_role("link", name="Clients", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Clients", level=1).is_visible()
    check_accessibility(page, "clients list")
    screenshot(page, "clients-list")

    enrolment = page.locator("form.enrol")
    enrolment.get_by_label("The office's certificate (x509, PEM or DER)").set_input_files(str(certificate))
    enrolment.get_by_label("Office (two-letter WIPO ST.3 code)").fill("KR")
    enrolment.get_by_label(re.compile("^Allowed source addresses")).fill("127.0.0.1/32")
    enrolment.get_by_label("Examining office (receives confidential copies)").check()
    enrolment.get_by_label("Name (a label for people)").fill("KIPO production")
    enrolment.get_by_role("button", name="Enrol the client").click()
    page.wait_for_load_state()

    match = re.search(r"/console/clients/([a-z]{2}-[0-9a-f]{12})$", page.url)
    assert match, page.url
    client_id = match.group(1)
    assert page.get_by_role("status").inner_text() == f"Client {client_id} enrolled for office KR"
    assert page.get_by_role("heading", name=f"Client {client_id}", level=1).is_visible()
    assert kid in page.locator("table.keys").inner_text()
    check_accessibility(page, "client page")
    screenshot(page, "client-enrolled")

    shown = json.loads(server.hws("admin", "clients", "show", client_id, "--json").stdout)
    assert shown["office"] == "KR" and shown["examining"] and shown["networks"] == ["127.0.0.1/32"]
    assert [k["kid"] for k in shown["keys"]] == [kid]
    [enrolled] = _audit(server, "client.enrolled")
    assert enrolled["actor"] == "operator:ada" and enrolled["source"] == "127.0.0.1" and enrolled["target"] == client_id

    page.get_by_label(re.compile("^Allowed source addresses")).fill("127.0.0.1/32\n192.0.2.0/24")
    page.get_by_role("button", name="Review the changes").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name=f"Change client {client_id}?").is_visible()
    row = page.locator("tr", has=page.get_by_role("cell", name="networks", exact=True)).inner_text()
    assert "192.0.2.0/24" in row and "127.0.0.1/32" in row
    check_accessibility(page, "client change review")
    screenshot(page, "client-change-review")
    unchanged = json.loads(server.hws("admin", "clients", "show", client_id, "--json").stdout)
    assert unchanged["networks"] == ["127.0.0.1/32"]  # nothing changes before the confirmation

    page.get_by_role("button", name="Apply these changes").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == f"Client {client_id} updated: networks"
    assert "192.0.2.0/24" in page.locator("dl.facts").inner_text()
    screenshot(page, "client-changed")
    changed = json.loads(server.hws("admin", "clients", "show", client_id, "--json").stdout)
    assert changed["networks"] == ["127.0.0.1/32", "192.0.2.0/24"]
    [updated] = _audit(server, "client.updated")
    assert updated["actor"] == "operator:ada" and updated["source"] == "127.0.0.1"
    assert updated["detail"]["networks"] == {  # type: ignore[index]
        "before": ["127.0.0.1/32"],
        "after": ["127.0.0.1/32", "192.0.2.0/24"],
    }


def test_a_viewer_reads_a_rejected_import(chromium: Browser, server: RunningServer, tmp_path: Path) -> None:
    package = tmp_path / "bad.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", "<a/>")
        archive.writestr("b.xml", "<b/>")
        archive.writestr("../evil.pdf", "%PDF-1.4")
    package.write_bytes(buffer.getvalue())
    with server.enrol("KR") as kr:
        done = kr.wait_for_import(kr.submit(package).import_id, timeout=60)
    assert done.status == "Rejected"
    viewer = add_operator(server, "vera", "viewer")
    page = sign_in(chromium, server, viewer)

    page.get_by_role("link", name="Rejected imports", exact=True).click()
    page.wait_for_load_state()
    assert "1 rejected import," in page.locator("table caption").inner_text()
    check_accessibility(page, "rejected imports")
    screenshot(page, "imports-list")

    page.get_by_role("link", name=done.import_id).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name=f"Import {done.import_id}", level=1).is_visible()
    problems = page.locator("table", has=page.get_by_role("columnheader", name="XML path")).inner_text()
    assert "package-several-xml" in problems and "zip-entry-traversal" in problems and "../evil.pdf" in problems
    check_accessibility(page, "rejected import")
    screenshot(page, "import-rejected")


def test_an_administrator_rolls_a_key_over_and_disables_the_client(
    chromium: Browser, server: RunningServer, tmp_path: Path
) -> None:
    with server.enrol("KR") as kr:
        client_id = kr.client_id
    first_kid = json.loads(server.hws("admin", "clients", "show", client_id, "--json").stdout)["keys"][0]["kid"]
    certificate = tmp_path / "next.pem"
    certificate.write_bytes(self_signed(new_ec_key(), cn="KIPO next key"))
    next_kid = read_certificate(certificate.read_bytes()).kid
    page = sign_in(chromium, server, add_operator(server, "abe", "administrator"))
    page.goto(f"{server.url}/console/clients/{client_id}")

    page.get_by_label("The office's new certificate (x509, PEM or DER)").set_input_files(str(certificate))
    page.get_by_role("button", name="Add the key").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == f"Key {next_kid} added to {client_id}"

    asked: list[str] = []

    def accept(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name=f"Retire key {first_kid}").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == f"Key {first_kid} retired from {client_id}"
    assert "the last key cannot be retired" in page.locator("table.keys").inner_text()
    page.get_by_role("button", name=f"Disable {client_id}").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == f"Client {client_id} disabled"
    assert asked[0].startswith(f"Retire key {first_kid} of {client_id}?") and asked[1].startswith(f"Disable {client_id}?")
    check_accessibility(page, "disabled client")
    screenshot(page, "client-disabled")

    shown = json.loads(server.hws("admin", "clients", "show", client_id, "--json").stdout)
    assert not shown["active"] and [k["kid"] for k in shown["keys"]] == [next_kid]
    by_operator = {(e["action"], e["source"]) for e in _audit(server, "client.*") if e["actor"] == "operator:abe"}
    assert by_operator == {
        ("client.key_added", "127.0.0.1"),
        ("client.key_removed", "127.0.0.1"),
        ("client.disabled", "127.0.0.1"),
    }
