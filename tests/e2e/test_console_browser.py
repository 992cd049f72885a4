"""The operator console in Debian's Chromium against the real server: operators sign in
with a password and a TOTP code; an examiner takes a request up and notifies an
irregularity, which the office sees with ``hws status``; the office cures it; the
examiner regularizes and registers it. A viewer is refused every action (also posted by
hand), a forged POST without the CSRF token is refused, a session times out. Each page
is checked with axe-core and photographed under ``test-artifacts/console/``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from hws.client.enrolment import generate
from hws.st96.examples import example_package
from tests.support.console_browser import (
    add_operator,
    browser,
    check_accessibility,
    new_page,
    screenshot,
    sign_in,
)
from tests.support.servers import RunningServer, start_server, until

#: one worker runs the module: its module-scoped fixture is set up once, not once per worker
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console-browser")]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as launched:
        yield launched


def _office(server: RunningServer, tmp_path: Path) -> str:
    """Enrol a KR client and configure the office CLI (``hws configure``) with it; its id."""
    files = generate("KR", tmp_path / "kr-keys")
    created = json.loads(
        server.hws("admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1/32",
                   "--json").stdout
    )  # fmt: skip
    server.hws(
        "configure", "--issuer", server.issuer, "--client-id", created["client_id"], "--private-key", str(files.private_key)
    )
    return str(created["client_id"])


def _submit(server: RunningServer, tmp_path: Path, name: str, package: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(package)
    done = json.loads(server.hws("submit", str(path), "--wait", "--json").stdout)
    assert done.get("srn"), done
    return str(done["srn"])


def _office_status(server: RunningServer, srn: str) -> str:
    return str(json.loads(server.hws("status", srn, "--json").stdout)["status"])


def _act(page: Page, button: str, fields: dict[str, str] | None = None) -> None:
    """Press an action's button on the request page (accepting its confirmation)."""
    form = page.locator("form", has=page.get_by_role("button", name=button, exact=True))
    for label, value in (fields or {}).items():
        form.get_by_label(label).fill(value)
    page.once("dialog", lambda dialog: dialog.accept())
    form.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()


def test_examiner_walks_a_request_through_irregularity_to_registration(
    chromium: Browser, server: RunningServer, tmp_path: Path
) -> None:
    _office(server, tmp_path)
    srn = _submit(server, tmp_path, "app.zip", example_package("application", office="KR", office_reference="KR-CONSOLE-1"))
    examiner = add_operator(server, "erin", "examiner")
    viewer = add_operator(server, "vic", "viewer")
    offsite: list[str] = []
    page = new_page(chromium, server, offsite)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Sign in: password, then the TOTP set-up (first time).
    page.goto(f"{server.url}/console/")
    assert "/console/sign-in" in page.url
    check_accessibility(page, "sign-in")
    screenshot(page, "sign-in")
    sign_in(page, server, examiner)
    assert page.get_by_text("erin · examiner").is_visible()
    check_accessibility(page, "dashboard")
    screenshot(page, "dashboard")

    # The request in the list, then its page.
    page.goto(f"{server.url}/console/requests?status=Undefined")
    page.get_by_role("link", name=srn).click()
    page.wait_for_load_state()
    check_accessibility(page, "request (Undefined)")
    _act(page, f"Take up {srn}")
    assert _office_status(server, srn) == "Processing"
    _act(
        page,
        "Notify the irregularity",
        {"The irregularity (the office reads this)": "The reproduction of design 1 is blurred; send a clearer one."},
    )
    assert "Pending Regularization" in page.content()
    screenshot(page, "request-pending-regularization")
    assert _office_status(server, srn) == "Pending Regularization"
    human = server.hws("status", srn).stdout
    assert "Pending Regularization" in human and re.search(r"regularize by\s+\d{4}-\d{2}-\d{2}", human)

    # The office cures it with a communication carrying its reference; the examiner sees
    # it arrive, regularizes the application and registers it.
    cure = _submit(server, tmp_path, "cure.zip", example_package(
        "HagueGenericOfficeCommunication", office="KR", office_reference="KR-CONSOLE-1", irn=None, category="Application",
        documents=[{"file": "cure.pdf", "kind": "MISCELLANEOUS"}],
    ))  # fmt: skip
    page.goto(f"{server.url}/console/requests?q=KR-CONSOLE-1")
    assert page.get_by_role("link", name=cure).is_visible()
    page.get_by_role("link", name=srn).click()
    page.wait_for_load_state()
    _act(page, f"Regularize {srn}")
    _act(page, f"Register {srn}")
    assert _office_status(server, srn) == "Registered"
    text = page.content()
    assert "Registered" in text and re.search(r"DM/\d{6}", text)
    history = page.locator("table", has_text="Pending Regularization")
    assert "operator:erin" in history.first.inner_text()
    check_accessibility(page, "request (Registered)")
    screenshot(page, "request-registered")

    # The audit log names the examiner and the address.
    page.goto(f"{server.url}/console/audit?actor=operator:erin")
    assert "sr.transition" in page.content() and "127.0.0.1" in page.content()

    # A viewer sees no action and is refused when posting one by hand with a valid token.
    viewer_page = new_page(chromium, server, offsite)
    sign_in(viewer_page, server, viewer)
    viewer_page.goto(f"{server.url}/console/requests/{cure}")
    assert viewer_page.get_by_role("button", name=f"Take up {cure}").count() == 0
    token = viewer_page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    for action in ("take-up", "irregularity", "regularization", "registration", "cancellation"):
        response = viewer_page.request.post(
            f"{server.url}/console/requests/{cure}/{action}", form={"csrf_token": token, "reason": "by hand"}
        )
        assert response.status == 403, (action, response.status)
    assert _office_status(server, cure) == "Undefined"

    # A forged POST (no CSRF token) from the examiner's own session is refused.
    forged = page.request.post(f"{server.url}/console/requests/{cure}/take-up", form={"reason": "forged"})
    assert forged.status == 403
    assert _office_status(server, cure) == "Undefined"

    assert offsite == [] and errors == []


def test_session_times_out(chromium: Browser, tmp_path: Path) -> None:
    server = start_server(tmp_path / "server", extra_env={"HWS_CONSOLE_IDLE_TIMEOUT": "3", "HWS_CONSOLE_REQUIRE_TOTP": "0"})
    try:
        operator = add_operator(server, "tess", "viewer")
        page = sign_in(chromium, server, operator)
        page.goto(f"{server.url}/console/account")
        assert page.get_by_role("heading", name="Your account").is_visible()
        time.sleep(4)
        page.goto(f"{server.url}/console/account")
        assert "/console/sign-in" in page.url and "next=%2Fconsole%2Faccount" in page.url
        assert page.get_by_role("heading", name="Sign in").is_visible()
    finally:
        server.stop()


def test_sign_out_ends_the_session(chromium: Browser, server: RunningServer) -> None:
    operator = add_operator(server, "otto", "administrator")
    page = sign_in(chromium, server, operator, check=True)  # the TOTP set-up page checked
    page.goto(f"{server.url}/console/account")
    check_accessibility(page, "your account")
    page.goto(f"{server.url}/console/operators")
    check_accessibility(page, "operators")
    screenshot(page, "operators")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_load_state()
    assert "/console/sign-in" in page.url and page.get_by_text("You are signed out.").is_visible()
    page.goto(f"{server.url}/console/")
    assert "/console/sign-in" in page.url
    until(lambda: "console.sign-out" in server.hws("admin", "audit", "--json").stdout, what="sign-out audited")
    # signing in again asks for the code (TOTP set up now): that page is checked too
    page.get_by_label("Operator name").fill(operator.name)
    page.get_by_label("Password").fill(operator.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/console/sign-in/code" in page.url
    check_accessibility(page, "sign-in code")
    screenshot(page, "sign-in-code")
