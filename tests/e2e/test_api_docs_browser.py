"""``/docs`` and ``/redoc`` render in a real browser with no network: Debian's Chromium,
headless, driven by playwright (``executable_path``; no browser download), against the
real server. Every request the page makes that leaves this server is refused and
recorded: there must be none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.console_browser import new_page
from tests.support.servers import RunningServer

#: one worker runs the module: its module-scoped fixture is set up once, not once per worker
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("api-docs-browser")]

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is needed (make test installs it: apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def _offline_page(browser: Browser, server: RunningServer, elsewhere: list[str]) -> Page:
    """A page that may reach this server only; anything else is aborted and noted."""
    return new_page(browser, server, elsewhere)


def test_swagger_ui_renders_offline_with_authorize_and_the_operations(
    browser: Browser, server: RunningServer, tmp_path: Path
) -> None:
    elsewhere: list[str] = []
    errors: list[str] = []
    page = _offline_page(browser, server, elsewhere)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/docs", wait_until="networkidle")

    authorize = page.get_by_role("button", name="Authorize")
    authorize.first.wait_for(timeout=30_000)
    operations = page.locator(".opblock-summary-path")
    operations.first.wait_for(timeout=30_000)
    paths = {text.strip().replace("\u200b", "") for text in operations.all_inner_texts()}
    assert "/webservices/api/v1/request" in paths
    assert "/webservices/api/v1/request/import/{importId}" in paths
    assert "/webservices/api/v1/publication/bulletin/{weekId}" in paths
    assert "/oauth2/access_token" in paths
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
    assert (tmp_path / "docs.png").stat().st_size > 10_000

    authorize.first.click()
    dialog = page.locator(".modal-ux")
    dialog.wait_for(timeout=10_000)
    assert "BearerToken" in dialog.inner_text() and "OAuth2" in dialog.inner_text()
    assert "clientCredentials" in dialog.inner_text() or "client credentials" in dialog.inner_text().lower()

    assert elsewhere == [], f"the page tried to reach other hosts: {elsewhere}"
    assert errors == []
    page.close()


def test_redoc_renders_offline(browser: Browser, server: RunningServer) -> None:
    elsewhere: list[str] = []
    page = _offline_page(browser, server, elsewhere)
    page.goto(f"{server.url}/redoc", wait_until="networkidle")
    page.locator("h2", has_text="Import status: Pending, Imported").first.wait_for(timeout=30_000)
    assert "Hague Web Services" in page.title()
    assert elsewhere == [], f"the page tried to reach other hosts: {elsewhere}"
    page.close()
