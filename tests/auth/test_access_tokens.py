"""checklists/auth.md rule 15: the API accepts only our access tokens."""

from __future__ import annotations

import time

import pytest

from hws.auth.access_tokens import AccessTokenAuthority
from hws.st96 import safexml
from hws.st96.api_documents import schema
from tests.auth.conftest import API, ISSUER, post_token
from tests.support.jose import claims_for, craft, form, new_ec_key


def token_for(http, office, scope: str | None = None) -> str:  # type: ignore[no-untyped-def]
    extra = {"scope": scope} if scope else {}
    response = post_token(http, form(craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), office.key), **extra))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def ping(http, token: str | None, **headers: str):  # type: ignore[no-untyped-def]
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http.get(f"{API}/pingMe", params={"name": "KR"}, headers=headers)


def assert_invalid_token(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    assert response.headers["content-type"].startswith("application/problem+xml")
    document = safexml.parse(response.content)
    schema("problem-rfc9457.xsd").assertValid(document)


def test_valid_token_pings(http, office) -> None:
    response = ping(http, token_for(http, office))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    document = safexml.parse(response.content)
    schema("hws-api-v1.xsd").assertValid(document)
    assert b"Hello KR" in response.content


def test_ping_without_name_says_hello_only(http, office) -> None:
    response = http.get(f"{API}/pingMe", headers={"Authorization": f"Bearer {token_for(http, office)}"})
    assert response.status_code == 200
    assert b"<hws:Message>Hello</hws:Message>" in response.content


def test_missing_token(http) -> None:
    assert_invalid_token(ping(http, None))


def test_wrong_scheme(http, office) -> None:
    assert_invalid_token(ping(http, None, Authorization=f"Basic {token_for(http, office)}"))


def test_expired_token(http, auth_service, office) -> None:
    past = time.time() - 2 * 3600
    expired = auth_service.authority.issue(office.client_id, ["hws/requests"], past).value
    assert_invalid_token(ping(http, expired))


def test_token_signed_by_another_key(http, auth_service, office) -> None:
    good = token_for(http, office)
    header_claims = good.split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(header_claims[1] + "=="))
    kid = auth_service.keyring.active.kid
    forged = craft({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims, new_ec_key())
    assert_invalid_token(ping(http, forged))


def test_assertion_used_as_bearer_token(http, office) -> None:
    assertion = craft({"alg": "ES256", "typ": "JWT"}, claims_for(office.client_id, ISSUER), office.key)
    assert_invalid_token(ping(http, assertion))


def test_token_with_wrong_typ_audience_or_issuer(http, auth_service, office) -> None:
    key = auth_service.keyring.active
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "sub": office.client_id,
        "client_id": office.client_id,
        "aud": "http://hws.test/webservices/api/v1",
        "scope": "hws/requests",
        "iat": now,
        "exp": now + 600,
        "jti": "x",
    }
    good = craft({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, base, key.private_key)
    assert ping(http, good).status_code == 200
    for header, claims in (
        ({"typ": "JWT"}, {}),
        ({}, {"aud": "http://other.example/api"}),
        ({}, {"iss": "http://other.example/oauth2"}),
        ({}, {"sub": "someone-else"}),
    ):
        token = craft({"alg": "ES256", "typ": "at+jwt", "kid": key.kid, **header}, {**base, **claims}, key.private_key)
        assert_invalid_token(ping(http, token))


def test_token_of_a_disabled_client(http, auth_service, office) -> None:
    token = token_for(http, office)
    assert ping(http, token).status_code == 200
    auth_service.registry.set_active(office.client_id, False)
    assert_invalid_token(ping(http, token))


def test_problem_as_json_when_asked(http) -> None:
    response = http.get(f"{API}/pingMe", headers={"Accept": "application/problem+json"})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "urn:hws:problem:invalid-token" and body["status"] == 401 and body["code"] == "invalid-token"


def test_scope_not_covering_the_call_is_403(http, auth_service, office) -> None:
    from hws.keys.certificates import read_certificate
    from tests.support.certificates import self_signed

    token = token_for(http, office)
    response = http.get(f"{API}/admin/clients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    operator_key = new_ec_key()
    operator = auth_service.registry.add(
        office="IB",
        certificate=read_certificate(self_signed(operator_key)),
        networks=["127.0.0.1/32"],
        scopes=["hws/admin"],
    )
    admin_assertion = craft({"alg": "ES256"}, claims_for(operator.client_id, ISSUER), operator_key)
    admin_token = post_token(http, form(admin_assertion)).json()["access_token"]
    listed = http.get(f"{API}/admin/clients", headers={"Authorization": f"Bearer {admin_token}"})
    assert listed.status_code == 200
    assert {c["client_id"] for c in listed.json()} == {office.client_id, operator.client_id}


@pytest.mark.parametrize("rotate", [False, True])
def test_tokens_survive_key_rotation(http, auth_service, office, rotate: bool) -> None:
    token = token_for(http, office)
    if rotate:
        auth_service.keyring.rotate()
    assert ping(http, token).status_code == 200
    jwks = http.get("/oauth2/jwks").json()["keys"]
    assert len(jwks) == (2 if rotate else 1)


def test_authority_rejects_its_own_token_after_expiry() -> None:
    """Unit check of the expiry comparison with leeway."""
    import tempfile
    from pathlib import Path

    from hws.auth.errors import InvalidToken
    from hws.auth.keyring import Keyring
    from hws.domain.clock import FixedClock

    with tempfile.TemporaryDirectory() as folder:
        clock = FixedClock(1_800_000_000)
        ring = Keyring(Path(folder), clock, grace=3630)
        ring.ensure()
        authority = AccessTokenAuthority(ring, issuer="i", audience="a", lifetime=3600, leeway=30)
        token = authority.issue("c", ["s"], clock.timestamp()).value
        assert authority.verify(token, clock.timestamp() + 3629).client_id == "c"
        with pytest.raises(InvalidToken):
            authority.verify(token, clock.timestamp() + 3631)


def _authority(folder: str, clock: object) -> tuple[AccessTokenAuthority, object]:
    from pathlib import Path

    from hws.auth.keyring import Keyring

    ring = Keyring(Path(folder), clock, grace=3630)  # type: ignore[arg-type]
    ring.ensure()
    return AccessTokenAuthority(
        ring, issuer="https://hws.test/oauth2", audience="https://hws.test/api", lifetime=3600, leeway=30
    ), ring


@pytest.mark.parametrize("client_id", ["kr-1", 'odd "id" \\ é', ""])
@pytest.mark.parametrize("scopes", [["hws/requests"], ["hws/requests", "hws/publications"], []])
@pytest.mark.parametrize("jkt", [None, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"])
def test_an_issued_token_is_what_the_jose_signer_makes(monkeypatch, client_id, scopes, jkt) -> None:  # type: ignore[no-untyped-def]
    """The header and claims built from kept parts are byte for byte what
    :func:`hws.keys.jose.sign` makes of the same header and claims, and the signature is a
    low-S ES256 one by the active key (asked twice: the second comes from the kept parts)."""
    import base64
    import tempfile

    from hws.auth import access_tokens
    from hws.auth import jws_checks as jws
    from hws.domain.clock import FixedClock
    from hws.keys.jose import P256_HALF_ORDER, sign

    monkeypatch.setattr(access_tokens.secrets, "token_urlsafe", lambda n: "j" * 24)
    with tempfile.TemporaryDirectory() as folder:
        clock = FixedClock(1_800_000_000)
        authority, ring = _authority(folder, clock)
        for _ in range(2):
            token = authority.issue(client_id, scopes, clock.timestamp() + 0.9, jkt)
            claims: dict[str, object] = {"iss": "https://hws.test/oauth2", "sub": client_id, "aud": "https://hws.test/api",
                                         "client_id": client_id, "scope": " ".join(scopes), "iat": 1_800_000_000,
                                         "nbf": 1_800_000_000, "exp": 1_800_003_600, "jti": "j" * 24}  # fmt: skip
            if jkt:
                claims["cnf"] = {"jkt": jkt}
            active = ring.active  # type: ignore[attr-defined]
            expected = sign({"alg": "ES256", "typ": "at+jwt", "kid": active.kid}, claims, active.signing_key)
            assert token.value.rsplit(".", 1)[0] == expected.rsplit(".", 1)[0]
            parsed = jws.parse_compact(token.value, max_bytes=8192)
            assert jws.verify(parsed, "ES256", active.verification_key)  # low-S required by default
            assert int.from_bytes(base64.urlsafe_b64decode(token.value.rsplit(".", 1)[1] + "==")[32:], "big") <= P256_HALF_ORDER
            assert authority.verify(token.value, clock.timestamp()).jkt == jkt
            assert (token.token_type, token.scope) == ("DPoP" if jkt else "Bearer", " ".join(scopes))


def test_the_next_token_after_a_key_rotation_names_and_uses_the_new_key() -> None:
    """The header segment kept for the signing key follows a rotation at once."""
    import tempfile

    from hws.auth import jws_checks as jws
    from hws.domain.clock import FixedClock

    with tempfile.TemporaryDirectory() as folder:
        clock = FixedClock(1_800_000_000)
        authority, ring = _authority(folder, clock)
        old = ring.active  # type: ignore[attr-defined]
        first = authority.issue("c", ["s"], clock.timestamp()).value
        clock.advance(5)
        new = ring.rotate()  # type: ignore[attr-defined]
        second = authority.issue("c", ["s"], clock.timestamp()).value
        kids = [jws.parse_compact(t, max_bytes=8192).header["kid"] for t in (first, second)]
        assert kids == [old.kid, new.kid] and old.kid != new.kid
        assert jws.verify(jws.parse_compact(second, max_bytes=8192), "ES256", new.verification_key)
        assert not jws.verify(jws.parse_compact(second, max_bytes=8192), "ES256", old.verification_key)
        assert (
            authority.verify(first, clock.timestamp()).client_id == authority.verify(second, clock.timestamp()).client_id == "c"
        )
