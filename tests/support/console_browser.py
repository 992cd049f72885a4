"""The operator console in a real browser: Debian's Chromium driven by playwright
(``executable_path``, no browser download), signing in as an operator made with
``hws admin operators add`` (password, then the TOTP set-up or code), axe-core injected
into pages to check accessibility, screenshots under ``test-artifacts/console/``."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.support.servers import RunningServer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "console"
PASSWORD = "a long console password 42"
AXE_VERSION = "4.14.1"
#: axe-core impacts that fail a page
BLOCKING = ("serious", "critical")


@dataclass
class Operator:
    name: str
    role: str
    password: str = PASSWORD
    #: learnt at the first sign-in (the TOTP set-up page shows it)
    totp_secret: str | None = None


@contextmanager
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is needed (make test installs it: apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def add_operator(server: RunningServer, name: str, role: str, password: str = PASSWORD) -> Operator:
    """``hws admin operators add`` against the server's settings (password on stdin)."""
    server.hws("admin", "operators", "add", name, "--role", role, "--password-stdin", input=password + "\n")
    return Operator(name, role, password)


def new_page(browser: Browser, server: RunningServer, offsite: list[str] | None = None) -> Page:
    """A page at 1280 px that may reach this server only (anything else aborted and noted)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    own = urlsplit(server.url).netloc
    seen = offsite if offsite is not None else []

    def guard(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            seen.append(url)
            route.abort()

    page.route("**/*", guard)
    return page


def current_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC))


def sign_in(browser_or_page: Browser | Page, server: RunningServer, operator: Operator, *, check: bool = False) -> Page:
    """Sign in through the pages (password; TOTP set-up at the first time, else the
    code); returns the page on the dashboard. ``check``: axe-core on the set-up or code
    page, photographed too."""
    page = browser_or_page if isinstance(browser_or_page, Page) else new_page(browser_or_page, server)
    page.goto(f"{server.url}/console/sign-in")
    page.get_by_label("Operator name").fill(operator.name)
    page.get_by_label("Password").fill(operator.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if "/sign-in/totp-setup" in page.url:
        secret = page.locator("#totp-secret").get_attribute("data-secret")
        assert secret and re.fullmatch(r"[A-Z2-7]+", secret)
        operator.totp_secret = secret
        if check:
            check_accessibility(page, "TOTP set-up")
            screenshot(page, "sign-in-totp-setup")
        page.get_by_label("Code from the app").fill(current_code(secret))
        page.get_by_role("button", name="Confirm and sign in").click()
    elif "/sign-in/code" in page.url:
        assert operator.totp_secret, "this operator set TOTP up elsewhere"
        if check:
            check_accessibility(page, "sign-in code")
            screenshot(page, "sign-in-code")
        page.get_by_label("Code").fill(current_code(operator.totp_secret))
        page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path.startswith("/console") and "sign-in" not in page.url, page.url
    return page


def _axe_source() -> str:
    """axe-core's browser build, installed once per machine from the npm registry."""
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to install axe-core (Debian's npm)")
    folder = Path.home() / ".cache" / "hws-tests" / f"axe-core-{hashlib.sha256(AXE_VERSION.encode()).hexdigest()[:12]}"
    script = folder / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(
            json.dumps({"name": "hws-test-axe", "private": True, "dependencies": {"axe-core": AXE_VERSION}})
        )
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    return script.read_text()


def check_accessibility(page: Page, label: str) -> list[dict[str, object]]:
    """Run axe-core (WCAG 2.x A/AA rules) on the page; fails on any serious or critical
    violation, naming the rule and the elements. Returns every violation found."""
    # through the DevTools protocol: the console's Content-Security-Policy allows no inline
    # script, and the test must not weaken it (bypass_csp) to run its own
    session = page.context.new_cdp_session(page)
    session.send("Runtime.evaluate", {"expression": _axe_source()})
    session.detach()
    results = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    violations: list[dict[str, object]] = results["violations"]
    blocking = [v for v in violations if v.get("impact") in BLOCKING]
    described = [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(str(n["target"]) for n in v["nodes"][:5])  # type: ignore[index,union-attr]
        for v in blocking
    ]
    assert not blocking, f"{label}: accessibility violations:\n" + "\n".join(described)
    return violations


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot at ``test-artifacts/console/<name>.png`` (git-ignored; the
    operator guide's pictures are copied from here)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
