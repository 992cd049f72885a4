"""Single sign-on for the console against a real OpenID Connect provider
(node-oidc-provider, tests/support/oidc_sign_in_provider.mjs) and the real server, in
Debian's Chromium: an operator signs in at the provider and lands on the dashboard with
the role the provider's claim names; signs out of the console and, through RP-initiated
logout, of the provider; the claim changes and the next sign-in carries the new role.
A person with no role claim is refused (and audited); a sign-in cancelled at the provider
is shown readably.

The provider is ``http://localhost:<port>`` and the console ``http://127.0.0.1:<port>``:
two sites, so the browser treats the round trip as cross-site, as in a deployment.

node and npm are needed (the provider is installed from the npm registry the first
time); without them the tests fail, they do not skip."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route

from tests.support import oidc_sign_in_provider
from tests.support.console_browser import browser, check_accessibility, screenshot
from tests.support.oidc_sign_in_provider import SignInProvider
from tests.support.servers import RunningServer, start_server

#: one worker runs the module: its module-scoped fixture is set up once, not once per worker
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console-sso")]

PASSWORD = "provider password 7"


@dataclass
class Setup:
    server: RunningServer
    provider: SignInProvider
    chromium: Browser


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    work = tmp_path_factory.mktemp("console-sso")
    provider = oidc_sign_in_provider.planned(work / "provider")
    provider.set_account("alice", PASSWORD, hws_role="examiner", name="Alice Example")
    provider.set_account("bob", PASSWORD, hws_role="administrator")
    provider.set_account("carol", PASSWORD)  # no hws_role at all
    server = start_server(work / "hws", extra_env=provider.env())
    try:
        with oidc_sign_in_provider.running(provider, hws_url=server.url), browser() as chromium:
            yield Setup(server, provider, chromium)
    finally:
        server.stop()


def _page(setup: Setup, seen: list[str] | None = None) -> Page:
    """A fresh browser at 1280 px that may reach the console and the provider only (the
    URLs it asks for noted in ``seen``)."""
    context = setup.chromium.new_context(viewport={"width": 1280, "height": 900})
    allowed = {urlsplit(setup.server.url).netloc, urlsplit(setup.provider.issuer).netloc}
    noted = seen if seen is not None else []

    def guard(route: Route) -> None:
        if urlsplit(route.request.url).netloc in allowed:
            route.continue_()
        else:
            route.abort()  # the provider's stock pages link web fonts

    context.route("**/*", guard)
    context.on("request", lambda request: noted.append(request.url))  # redirects included
    return context.new_page()


def _at_provider(page: Page, username: str) -> None:
    """Sign in on the provider's login page (the browser is there)."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _id_token_claims(page: Page) -> dict[str, object]:
    """The claims of the ID token the console kept (its HttpOnly cookie, read through the
    browser's cookie store)."""
    kept = [c["value"] for c in page.context.cookies() if c["name"] == "hws_console_sso_id"]
    assert len(kept) == 1, page.context.cookies()
    payload = kept[0].split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _start_sso(setup: Setup, page: Page, next_path: str = "") -> None:
    page.goto(f"{setup.server.url}/console/sign-in" + (f"?next={next_path}" if next_path else ""))
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.wait_for_url(f"{setup.provider.issuer}/**")


def _header(page: Page) -> str:
    return page.locator("header .who").inner_text()


def _operators(server: RunningServer) -> dict[str, dict[str, object]]:
    listed = json.loads(server.hws("admin", "operators", "list", "--json").stdout)
    return {row["name"]: row for row in listed}


def test_sign_in_sign_out_at_the_provider_and_a_changed_role(setup: Setup) -> None:
    server, provider = setup.server, setup.provider
    seen: list[str] = []
    page = _page(setup, seen)
    _start_sso(setup, page, "/console/requests")
    # the authorization request: code flow, PKCE S256, state, nonce, the role claim asked for by name
    asked = [url for url in seen if url.startswith(f"{provider.issuer}/auth?")]
    assert len(asked) == 1, seen
    query = {name: values[0] for name, values in parse_qs(urlsplit(asked[0]).query).items()}
    assert query["response_type"] == "code" and query["client_id"] == provider.client_id
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert query["scope"].split() == ["openid", "profile"]
    assert "hws_role" in json.loads(query["claims"])["id_token"]
    assert query["redirect_uri"] == f"{server.url}/console/sso/callback"
    _at_provider(page, "alice")
    page.wait_for_url(f"{server.url}/console/requests*")
    assert "alice" in _header(page) and "examiner" in _header(page), _header(page)
    assert page.get_by_role("link", name="Operators").count() == 0  # an examiner's menu
    screenshot(page, "sso-signed-in-examiner")
    account = _operators(server)["alice"]
    assert account["role"] == "examiner"
    # the role came in the ID token (asked for with the claims parameter)
    assert _id_token_claims(page)["hws_role"] == "examiner"

    # signing out: the console session ends, then the provider's (RP-initiated logout)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.url}/console/sso/sign-out")
    assert page.get_by_role("heading", name="Signed out").is_visible()
    check_accessibility(page, "sso signed out")
    screenshot(page, "sso-signed-out")
    other = page.context.new_page()  # the console session is over (same browser, another tab)
    other.goto(f"{server.url}/console/")
    other.wait_for_url(f"{server.url}/console/sign-in*")
    other.close()
    link = page.get_by_role("link", name="Sign out at the single sign-on provider too")
    hint = parse_qs(urlsplit(link.get_attribute("href") or "").query)
    assert hint["client_id"] == [provider.client_id]
    assert hint["post_logout_redirect_uri"] == [f"{server.url}/console/sign-in"]
    assert hint["id_token_hint"][0].count(".") == 2
    link.click()
    page.wait_for_url(f"{provider.issuer}/session/end*")
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{server.url}/console/sign-in*")
    assert page.get_by_role("heading", name="Sign in").is_visible()

    # the provider now says alice is an administrator; she must sign in there again
    provider.set_account("alice", PASSWORD, hws_role="administrator", name="Alice Example")
    _start_sso(setup, page)
    assert page.get_by_label("Username").is_visible()  # the provider's session ended: it asks again
    _at_provider(page, "alice")
    page.wait_for_url(f"{server.url}/console/")
    assert "alice" in _header(page) and "administrator" in _header(page), _header(page)
    assert page.get_by_role("link", name="Operators").count() == 1
    screenshot(page, "sso-signed-in-administrator")
    assert _operators(server)["alice"]["role"] == "administrator"
    changed = json.loads(server.hws("admin", "audit", "--action", "operator.role-changed", "--target", "alice", "--json").stdout)
    assert [(row["actor"], row["detail"]["before"], row["detail"]["after"]) for row in changed] == [
        ("sso", "examiner", "administrator")
    ]
    page.context.close()


def test_an_administrator_claim_signs_in_as_administrator(setup: Setup) -> None:
    seen: list[str] = []
    page = _page(setup, seen)
    _start_sso(setup, page)
    _at_provider(page, "bob")
    page.wait_for_url(f"{setup.server.url}/console/")
    assert "bob" in _header(page) and "administrator" in _header(page), _header(page)
    page.get_by_role("link", name="Operators").click()
    assert page.get_by_role("heading", level=1).count() == 1
    # the provider's answer again (the same code and state, as from the history): refused
    answered = [url for url in seen if url.startswith(f"{setup.server.url}/console/sso/callback?")]
    assert len(answered) == 1 and "code=" in answered[0], seen
    again = page.goto(answered[0])
    assert again is not None and again.status == 400
    assert "expired or was not started from this console" in page.get_by_role("alert").inner_text()
    page.context.close()


def test_no_role_claim_is_refused_and_audited(setup: Setup) -> None:
    page = _page(setup)
    _start_sso(setup, page)
    _at_provider(page, "carol")
    page.wait_for_url(f"{setup.server.url}/console/sso/callback*")
    assert page.get_by_role("heading", name="Single sign-on did not sign you in").is_visible()
    assert "no console role" in page.get_by_role("alert").inner_text()
    check_accessibility(page, "sso refused")
    screenshot(page, "sso-refused-no-role")
    page.goto(f"{setup.server.url}/console/")
    page.wait_for_url(f"{setup.server.url}/console/sign-in*")  # no session was opened
    assert "carol" not in _operators(setup.server)
    refused = json.loads(
        setup.server.hws("admin", "audit", "--action", "console.sign-in", "--json").stdout
    )  # fmt: skip
    rows = [row for row in refused if row["outcome"] == "refused" and row["target"].endswith("|carol")]
    assert len(rows) == 1, refused
    assert rows[0]["target"] == f"{setup.provider.issuer}|carol"
    assert "no known role" in rows[0]["detail"]["reason"]
    page.context.close()


def test_a_sign_in_cancelled_at_the_provider_is_shown(setup: Setup) -> None:
    page = _page(setup)
    _start_sso(setup, page)
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(f"{setup.server.url}/console/sso/callback*")
    assert parse_qs(urlsplit(page.url).query)["error"] == ["access_denied"]
    alert = page.get_by_role("alert").inner_text()
    assert "did not sign you in (access denied)" in alert and "cancelled the sign-in" in alert, alert
    page.get_by_role("link", name="Back to the sign-in page").click()
    page.wait_for_url(f"{setup.server.url}/console/sign-in")
    page.context.close()


def test_the_role_from_userinfo_when_the_provider_has_no_claims_parameter(setup: Setup, tmp_path: Path) -> None:
    """A provider that releases the role only with a scope of its own (asked for with
    HWS_CONSOLE_OIDC_SCOPES), from its userinfo endpoint only (not in the ID token): the
    console asks userinfo."""
    provider = oidc_sign_in_provider.planned(tmp_path / "provider")
    provider.set_account("dave", PASSWORD, hws_role="examiner")
    server = start_server(tmp_path / "hws", extra_env={**provider.env(), "HWS_CONSOLE_OIDC_SCOPES": "profile hws"})
    try:
        with oidc_sign_in_provider.running(provider, hws_url=server.url, claims_parameter=False):
            seen: list[str] = []
            page = _page(Setup(server, provider, setup.chromium), seen)
            page.goto(f"{server.url}/console/sign-in")
            page.get_by_role("link", name="Sign in with single sign-on").click()
            page.wait_for_url(f"{provider.issuer}/**")
            asked = next(url for url in seen if url.startswith(f"{provider.issuer}/auth?"))
            query = parse_qs(urlsplit(asked).query)
            assert "claims" not in query  # the provider does not support it
            assert query["scope"] == ["openid profile hws"]
            _at_provider(page, "dave")
            page.wait_for_url(f"{server.url}/console/")
            assert "dave" in _header(page) and "examiner" in _header(page), _header(page)
            claims = _id_token_claims(page)
            assert "hws_role" not in claims and "preferred_username" not in claims, claims
            page.context.close()
    finally:
        server.stop()
