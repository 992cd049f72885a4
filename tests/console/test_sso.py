"""Console single sign-on, in process: the pieces of hws.console.sso (role from the claim,
the sign-in under way, the ID token checks, the provider's metadata) and its pages where
they do not need the provider: a callback without a sign-in under way, with another
state, or with the provider's error is refused readably and audited; an SSO session
signs out through /console/sso/sign-out. The whole round trip through a real provider is
tests/e2e/test_console_sso.py."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.console import sso
from hws.console.cookies import SESSION_COOKIE
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.store import audit
from hws.usecases.operator_accounts import OperatorAccounts
from tests.conftest import make_service
from tests.console.conftest import BASE, csrf_of
from tests.support.servers import free_port

ISSUER = "https://id.example.test"
CLIENT = "hws-console"


@pytest.fixture
def sso_service(tmp_path: Path, sqlite_url: str) -> Iterator[Service]:
    # the issuer is a port nothing listens on: these tests never reach a provider
    service = make_service(
        tmp_path, sqlite_url, worker_threads=0, console_oidc_issuer=f"http://127.0.0.1:{free_port()}",
        console_oidc_client_id=CLIENT, console_oidc_client_secret="a client secret",
    )  # fmt: skip
    yield service
    service.close()


@pytest.fixture
def client(sso_service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(sso_service), base_url=BASE, client=("127.0.0.1", 50000), follow_redirects=False) as tc:
        yield tc


def refusals(service: Service) -> list[dict[str, Any]]:
    return [row for row in audit.query(service.engine, action="console.sign-in") if row["outcome"] == "refused"]


# The role claim ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "role"),
    [
        ("examiner", Role.EXAMINER),
        (" Administrator ", Role.ADMINISTRATOR),
        ("viewer", Role.VIEWER),
        (["viewer", "administrator", "examiner"], Role.ADMINISTRATOR),  # a list: the highest it names
        (["staff", "examiner"], Role.EXAMINER),
        ("superuser", None),
        ("", None),
        (["staff"], None),
        (None, None),
        (3, None),
        ({"role": "administrator"}, None),
    ],
)
def test_role_from_the_claim(claim: object, role: Role | None) -> None:
    assert sso.role_from(claim) == role


@pytest.mark.parametrize(
    ("setting", "asked"),
    [("openid profile", "openid profile"), ("profile roles", "openid profile roles"), ("roles openid roles", "openid roles")],
)
def test_the_scopes_asked_for(tmp_path: Path, sqlite_url: str, setting: str, asked: str) -> None:
    from hws.config import Settings

    settings = Settings(data_dir=tmp_path, database_url=sqlite_url, console_oidc_scopes=setting)
    assert sso.scopes(settings) == asked


def test_the_subject_names_the_issuer() -> None:
    assert sso.subject_of(ISSUER, "248289761001") == "https://id.example.test|248289761001"
    assert sso.subject_of(ISSUER, "a") != sso.subject_of("https://other.example.test", "a")


def test_role_mapping_follows_the_claim_at_each_sign_in(sso_service: Service) -> None:
    accounts = OperatorAccounts(sso_service)
    settings = sso_service.settings
    subject = sso.subject_of(ISSUER, "u-1")
    first = sso.operator_from_claims(
        accounts,
        settings,
        {"sub": "u-1", "hws_role": "Examiner", "preferred_username": "Ada"},
        subject=subject,
        source="10.0.0.1",
    )
    assert (first.session.name, first.session.role, first.session.via) == ("ada", Role.EXAMINER, "sso")
    second = sso.operator_from_claims(
        accounts, settings, {"sub": "u-1", "hws_role": ["viewer"], "preferred_username": "ada"}, subject=subject, source=None
    )
    assert second.session.role == Role.VIEWER
    account = accounts.get("ada")
    assert account is not None and account.role == Role.VIEWER and account.sso_subject == subject
    changed = audit.query(sso_service.engine, action="operator.role-changed", target="ada")
    assert [(r["detail"]["before"], r["detail"]["after"]) for r in changed] == [("examiner", "viewer")]


def test_another_role_claim_is_read_when_configured(tmp_path: Path, sqlite_url: str) -> None:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, console_oidc_role_claim="groups",
                           console_oidc_name_claim="email")  # fmt: skip
    try:
        created = sso.operator_from_claims(
            OperatorAccounts(service), service.settings,
            {"sub": "x", "groups": ["staff", "administrator"], "email": "grace@ib.example", "hws_role": "viewer"},
            subject=sso.subject_of(ISSUER, "x"), source=None,
        )  # fmt: skip
    finally:
        service.close()
    assert (created.session.name, created.session.role) == ("grace@ib.example", Role.ADMINISTRATOR)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "u-2", "preferred_username": "bob"}, "no known role"),
        ({"sub": "u-2", "preferred_username": "bob", "hws_role": "root"}, "no known role"),
        ({"sub": "u-2", "hws_role": "examiner"}, "no name"),
        ({"sub": "u-2", "hws_role": "examiner", "preferred_username": "Bob Smith"}, "bad name"),
    ],
)
def test_missing_role_or_name_is_refused(sso_service: Service, claims: dict[str, Any], reason: str) -> None:
    accounts = OperatorAccounts(sso_service)
    with pytest.raises(sso.SsoFailure) as refused:
        sso.operator_from_claims(accounts, sso_service.settings, claims, subject=sso.subject_of(ISSUER, "u-2"), source=None)
    assert refused.value.reason.startswith(reason)
    assert refused.value.status_code == 403 and refused.value.subject == f"{ISSUER}|u-2"
    assert accounts.list() == []  # no account made


def test_a_disabled_account_is_refused_and_the_refusal_audited(sso_service: Service) -> None:
    accounts = OperatorAccounts(sso_service)
    claims = {"sub": "u-3", "hws_role": "examiner", "preferred_username": "cleo"}
    subject = sso.subject_of(ISSUER, "u-3")
    sso.operator_from_claims(accounts, sso_service.settings, claims, subject=subject, source=None)
    accounts.set_disabled("cleo", True, actor="operator:admin")
    with pytest.raises(sso.SsoFailure) as refused:
        sso.operator_from_claims(accounts, sso_service.settings, claims, subject=subject, source="10.0.0.3")
    assert refused.value.reason == "account disabled" and refused.value.audited
    rows = refusals(sso_service)
    assert [(r["actor"], r["target"], r["detail"]["reason"], r["source"]) for r in rows] == [
        ("operator:cleo", "cleo", "account disabled", "10.0.0.3")
    ]


def test_a_name_taken_by_a_local_account_is_refused_and_audited(sso_service: Service) -> None:
    accounts = OperatorAccounts(sso_service)
    accounts.add("dora", Role.VIEWER, "a long local password 99", actor="test")
    with pytest.raises(sso.SsoFailure) as refused:
        sso.operator_from_claims(accounts, sso_service.settings, {"sub": "u-4", "hws_role": "administrator",
                                 "preferred_username": "dora"}, subject=sso.subject_of(ISSUER, "u-4"), source=None)  # fmt: skip
    assert refused.value.reason == "sso name taken" and refused.value.audited
    assert [r["detail"]["reason"] for r in refusals(sso_service)] == ["sso name taken"]
    local = accounts.get("dora")
    assert local is not None and local.role == Role.VIEWER and local.sso_subject is None


# The sign-in under way -------------------------------------------------------------------


def test_pending_round_trip_and_tampering() -> None:
    pending = sso.Pending.new("/console/requests?status=Processing")
    assert sso.Pending.decode(pending.encode()) == pending
    assert len(pending.verifier) >= 43 and pending.state != pending.nonce
    assert sso.Pending.new("https://evil.example/").next == "/console/"  # no open redirect
    assert sso.Pending.new("//evil.example/").next == "/console/"
    for bad in ("", "not base64!", "e30", pending.encode()[:-5], "A" * 3000):
        assert sso.Pending.decode(bad) is None
    assert pending.current(pending.started + 10)
    assert not pending.current(pending.started + sso.PENDING_SECONDS + 1)


# The ID token ----------------------------------------------------------------------------


@pytest.fixture
def provider_key() -> ECKey:
    key = ECKey.generate_key("P-256", private=True)
    key.ensure_kid()
    return key


def id_token(key: ECKey, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "sub": "u-1", "aud": CLIENT, "iat": now, "exp": now + 300, "nonce": "n-1"}
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def check(token: str, key: ECKey, **changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "issuer": ISSUER, "client_id": CLIENT, "nonce": "n-1", "access_token": None, "algorithms": ("ES256", "RS256"),
    }  # fmt: skip
    arguments.update(changes)
    return sso.check_id_token(token, KeySet([key]), **arguments)


def test_a_good_id_token_is_accepted(provider_key: ECKey) -> None:
    claims = check(id_token(provider_key, hws_role="examiner", aud=[CLIENT]), provider_key)
    assert claims["sub"] == "u-1" and claims["hws_role"] == "examiner"


@pytest.mark.parametrize(
    "changes",
    [
        {"nonce": "another"},
        {"nonce": None},
        {"aud": "another-client"},
        {"aud": ["another-client"]},
        {"iss": "https://evil.example.test"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"sub": None},
        {"azp": "another-client"},
    ],
    ids=["nonce", "no-nonce", "aud", "aud-list", "iss", "expired", "no-sub", "azp"],
)
def test_a_wrong_id_token_is_refused(provider_key: ECKey, changes: dict[str, Any]) -> None:
    with pytest.raises(JoseError):
        check(id_token(provider_key, **changes), provider_key)


def test_an_id_token_signed_by_another_key_is_refused(provider_key: ECKey) -> None:
    other = ECKey.generate_key("P-256", private=True)
    other.ensure_kid()
    forged = jwt.encode({"alg": "ES256", "kid": provider_key.kid}, {"iss": ISSUER, "sub": "u-1", "aud": CLIENT,
                        "iat": int(time.time()), "exp": int(time.time()) + 300, "nonce": "n-1"}, other)  # fmt: skip
    with pytest.raises(JoseError):
        check(forged, provider_key)


def test_an_id_token_with_alg_none_or_an_unlisted_alg_is_refused(provider_key: ECKey) -> None:
    token = id_token(provider_key)
    with pytest.raises(JoseError):
        check(token, provider_key, algorithms=("RS256",))
    payload = token.split(".")[1]
    with pytest.raises(JoseError):
        check("eyJhbGciOiJub25lIn0." + payload + ".", provider_key)  # {"alg":"none"}, no signature


def test_at_hash_binds_the_access_token(provider_key: ECKey) -> None:
    import base64

    digest = hashlib.sha256(b"the-access-token").digest()[:16]
    at_hash = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    token = id_token(provider_key, at_hash=at_hash)
    assert check(token, provider_key, access_token="the-access-token")["at_hash"] == at_hash
    with pytest.raises(JoseError):
        check(token, provider_key, access_token="another-access-token")


# The provider's metadata -----------------------------------------------------------------


def test_metadata_must_name_the_issuer_asked() -> None:
    document = {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks"}  # fmt: skip
    metadata = sso.ProviderMetadata.from_document(document, ISSUER + "/")
    assert metadata.token_endpoint_auth_methods == ("client_secret_basic",)  # RFC 8414's default
    assert metadata.id_token_algorithms == ("RS256",) and metadata.end_session_endpoint is None
    assert not metadata.claims_parameter_supported
    listed = sso.ProviderMetadata.from_document(
        {**document, "id_token_signing_alg_values_supported": ["none", "HS256", "ES256"], "claims_parameter_supported": True},
        ISSUER,
    )
    assert listed.id_token_algorithms == ("ES256",) and listed.claims_parameter_supported
    with pytest.raises(sso.SsoFailure) as other:
        sso.ProviderMetadata.from_document({**document, "issuer": "https://evil.example.test"}, ISSUER)
    assert "issuer" in other.value.reason
    with pytest.raises(sso.SsoFailure):
        sso.ProviderMetadata.from_document({k: v for k, v in document.items() if k != "jwks_uri"}, ISSUER)


def test_end_session_url(sso_service: Service) -> None:
    url = sso.end_session_url(f"{ISSUER}/logout?x=1", client_id=CLIENT, id_token="a.b.c", settings=sso_service.settings)
    parts = urlsplit(url)
    assert parts.path == "/logout"
    assert parse_qs(parts.query) == {
        "x": ["1"], "client_id": [CLIENT], "id_token_hint": ["a.b.c"],
        "post_logout_redirect_uri": ["http://hws.test/console/sign-in"],
    }  # fmt: skip
    assert "id_token_hint" not in sso.end_session_url(f"{ISSUER}/logout", client_id=CLIENT, id_token=None,
                                                      settings=sso_service.settings)  # fmt: skip


# The pages -------------------------------------------------------------------------------


def test_callback_without_a_sign_in_under_way_is_refused(client: TestClient, sso_service: Service) -> None:
    answer = client.get("/console/sso/callback", params={"code": "c", "state": "s"})
    assert answer.status_code == 400
    assert "expired or was not started from this console" in answer.text
    assert client.cookies.get(SESSION_COOKIE) is None
    assert [(r["actor"], r["detail"]["reason"]) for r in refusals(sso_service)] == [("sso", "no sign-in under way")]


def test_callback_with_another_state_is_refused(client: TestClient, sso_service: Service) -> None:
    pending = sso.Pending.new("/console/")
    client.cookies.set(sso.PENDING_COOKIE, pending.encode(), domain="hws.test", path=sso.PENDING_PATH)
    answer = client.get("/console/sso/callback", params={"code": "c", "state": pending.state + "x"})
    assert answer.status_code == 400
    assert "did not match the one started here" in answer.text
    set_cookies = [header.split("=")[0] for header in answer.headers.get_list("set-cookie")]
    assert set_cookies == [sso.PENDING_COOKIE]  # no session; the sign-in under way is dropped
    assert [(r["detail"]["reason"], r["source"]) for r in refusals(sso_service)] == [("state mismatch", "127.0.0.1")]


def test_an_expired_sign_in_is_refused(client: TestClient, sso_service: Service) -> None:
    old = sso.Pending("s" * 43, "n" * 43, "v" * 64, "/console/", time.time() - sso.PENDING_SECONDS - 5)
    client.cookies.set(sso.PENDING_COOKIE, old.encode(), domain="hws.test", path=sso.PENDING_PATH)
    answer = client.get("/console/sso/callback", params={"code": "c", "state": old.state})
    assert answer.status_code == 400
    assert [r["detail"]["reason"] for r in refusals(sso_service)] == ["no sign-in under way"]


def test_the_providers_error_is_shown_readably(client: TestClient, sso_service: Service) -> None:
    pending = sso.Pending.new("/console/")
    client.cookies.set(sso.PENDING_COOKIE, pending.encode(), domain="hws.test", path=sso.PENDING_PATH)
    answer = client.get("/console/sso/callback", params={"error": "access_denied", "error_description": "<b>nope</b>",
                                                         "state": pending.state})  # fmt: skip
    assert answer.status_code == 403
    assert "did not sign you in (access denied): &lt;b&gt;nope&lt;/b&gt;." in answer.text  # escaped
    assert "Back to the sign-in page" in answer.text
    assert [r["detail"]["reason"] for r in refusals(sso_service)] == ["provider error access_denied: <b>nope</b>"]


def test_start_when_the_provider_cannot_be_reached(client: TestClient) -> None:
    answer = client.get("/console/sso/start", params={"next": "/console/requests"})
    assert answer.status_code == 502
    assert "could not be reached" in answer.text
    assert sso.PENDING_COOKIE not in client.cookies


def test_start_when_single_sign_on_is_not_set_up(tmp_path: Path, sqlite_url: str) -> None:
    service = make_service(tmp_path, sqlite_url, worker_threads=0)
    try:
        with TestClient(create_app(service), base_url=BASE, follow_redirects=False) as tc:
            assert tc.get("/console/sso/start").status_code == 404
            assert tc.get("/console/sso/callback", params={"code": "c", "state": "s"}).status_code == 404
            assert "single sign-on" not in tc.get("/console/sign-in").text
    finally:
        service.close()


def test_the_sign_in_page_links_to_single_sign_on(client: TestClient) -> None:
    page = client.get("/console/sign-in", params={"next": "/console/requests"})
    assert 'href="/console/sso/start?next=/console/requests"' in page.text


def _sso_session(client: TestClient, service: Service, role: Role = Role.EXAMINER) -> str:
    created = OperatorAccounts(service).sso_sign_in(subject=f"{ISSUER}|u-9", name="erin", role=role, source=None)
    client.cookies.set(SESSION_COOKIE, created.token, domain="hws.test", path="/console")
    home = client.get("/console/")
    assert home.status_code == 200 and "erin" in home.text
    return csrf_of(home.text)


def test_an_sso_session_signs_out_here(client: TestClient, sso_service: Service) -> None:
    csrf = _sso_session(client, sso_service)
    home = client.get("/console/")
    assert 'action="/console/sso/sign-out"' in home.text  # the header's sign-out, for an SSO session
    refused = client.post("/console/sso/sign-out", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    # the provider cannot be reached to offer signing out there: signed out of the console all the same
    done = client.post("/console/sso/sign-out", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/console/sign-in"
    assert client.get("/console/").status_code == 303
    assert [r["actor"] for r in audit.query(sso_service.engine, action="console.sign-out")] == ["operator:erin"]


def test_a_local_session_keeps_the_plain_sign_out(signed_in: Any) -> None:
    console = signed_in(Role.VIEWER)
    assert 'action="/console/sign-out"' in console.get("/console/").text
