"""checklists/auth.md, rules 1-14: every row with its negative test.

Each negative test sends a request that differs from a valid one only in the rule under
test, so removing that rule's check turns the test red.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from hws.config import AudiencePolicy
from hws.keys.certificates import read_certificate
from tests.auth.conftest import ISSUER, TOKEN_ENDPOINT, post_token
from tests.conftest import enrol, make_service
from tests.support.certificates import self_signed
from tests.support.jose import claims_for, craft, form, new_ec_key, new_rsa_key, segment

GENERIC = "client authentication failed"


def es256(office, **claims_overrides):  # type: ignore[no-untyped-def]
    claims = claims_for(office.client_id, TOKEN_ENDPOINT)
    claims.update(claims_overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return craft({"alg": "ES256", "typ": "JWT"}, claims, office.key)


def assert_oauth_error(response, status: int, error: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    return body


def test_valid_request_gets_a_bearer_token(http, office) -> None:
    response = post_token(http, form(es256(office)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "hws/requests hws/publications"
    assert response.headers["cache-control"] == "no-store"
    header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"


def test_wipo_example_request_succeeds(http, office) -> None:
    """WIPO's own example: no jti, no iat, aud = token endpoint, exp = now + 10 s."""
    now = int(time.time())
    claims = {"iss": office.client_id, "sub": office.client_id, "aud": TOKEN_ENDPOINT, "exp": now + 10}
    response = post_token(http, form(craft({"alg": "ES256", "typ": "JWT"}, claims, office.key), scope="hws/requests"))
    assert response.status_code == 200, response.text


# Rule 1 ---------------------------------------------------------------------------------


def test_rule1_wrong_assertion_type(http, office) -> None:
    data = form(es256(office))
    data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    assert_oauth_error(post_token(http, data), 400, "invalid_request")


def test_rule1_assertion_plus_basic_auth(http, office) -> None:
    basic = base64.b64encode(f"{office.client_id}:secret".encode()).decode()
    response = post_token(http, form(es256(office)), headers={"Authorization": f"Basic {basic}"})
    assert_oauth_error(response, 400, "invalid_request")


def test_rule1_assertion_plus_client_secret(http, office) -> None:
    assert_oauth_error(post_token(http, form(es256(office), client_secret="x")), 400, "invalid_request")


def test_rule1_client_id_differs_from_sub(http, office) -> None:
    assert_oauth_error(post_token(http, form(es256(office), client_id="someone-else")), 400, "invalid_request")


def test_rule1_client_id_equal_to_sub_is_fine(http, office) -> None:
    assert post_token(http, form(es256(office), client_id=office.client_id)).status_code == 200


def test_rule1_password_grant(http, office) -> None:
    data = form(es256(office))
    data["grant_type"] = "password"
    assert_oauth_error(post_token(http, data), 400, "unsupported_grant_type")


def test_rule1_repeated_parameter(http, office) -> None:
    body = "&".join(f"{k}={v}" for k, v in form(es256(office)).items()) + "&grant_type=client_credentials"
    response = http.post("/oauth2/access_token", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert_oauth_error(response, 400, "invalid_request")


def test_rule1_not_form_encoded(http, office) -> None:
    response = http.post("/oauth2/access_token", json=form(es256(office)))
    assert_oauth_error(response, 400, "invalid_request")


# Rule 2 ---------------------------------------------------------------------------------


def test_rule2_one_mebibyte_header_refused_before_parsing(http, office) -> None:
    header = {"alg": "ES256", "typ": "JWT", "pad": "x" * (1024 * 1024)}
    response = post_token(http, form(craft(header, claims_for(office.client_id, ISSUER), office.key)))
    assert_oauth_error(response, 413, "invalid_request")


def test_rule2_assertion_over_8_kib_refused_even_if_well_signed(http, office) -> None:
    claims = claims_for(office.client_id, ISSUER, padding="x" * 9000)
    response = post_token(http, form(craft({"alg": "ES256"}, claims, office.key)))
    assert_oauth_error(response, 401, "invalid_client")


def test_rule2_slightly_large_assertion_accepted(http, office) -> None:
    claims = claims_for(office.client_id, ISSUER, padding="x" * 4000)
    assert post_token(http, form(craft({"alg": "ES256"}, claims, office.key))).status_code == 200


@pytest.mark.parametrize(
    "assertion",
    [
        "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y2lwaGVy.dGFn",  # 5-part JWE
        "garbage",
        "not.base64!.at-all",
        "e30.e30.",  # empty objects, empty signature
        "W10.e30.AAAA",  # header is a JSON array
    ],
)
def test_rule2_not_a_compact_jws(http, office, assertion: str) -> None:
    body = assert_oauth_error(post_token(http, form(assertion)), 401, "invalid_client")
    assert body["error_description"] == GENERIC


def test_rule2_empty_assertion(http, office) -> None:
    assert_oauth_error(post_token(http, form("")), 401, "invalid_client")


def test_rule2_duplicate_json_members(http, office) -> None:
    h = segment(b'{"alg":"ES256","alg":"none"}')
    claims = claims_for(office.client_id, ISSUER)
    token = craft({"alg": "ES256"}, claims, office.key)
    forged = h + token[token.index(".") :]
    assert_oauth_error(post_token(http, form(forged)), 401, "invalid_client")


# Rule 3 ---------------------------------------------------------------------------------


def test_rule3_alg_none(http, office) -> None:
    token = craft({"alg": "none"}, claims_for(office.client_id, ISSUER), None)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


def test_rule3_hs256_keyed_with_public_key(http, office) -> None:
    public_pem = office.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = craft({"alg": "HS256"}, claims_for(office.client_id, ISSUER), public_pem)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


def test_rule3_rs256_refused_even_with_registered_rsa_key(http, auth_service) -> None:
    rsa_office = enrol(auth_service, key=new_rsa_key())
    claims = claims_for(rsa_office.client_id, ISSUER)
    assert_oauth_error(post_token(http, form(craft({"alg": "RS256"}, claims, rsa_office.key))), 401, "invalid_client")
    # The same key with PS256 (its pinned alg) is accepted.
    ps = craft({"alg": "PS256"}, claims_for(rsa_office.client_id, ISSUER), rsa_office.key)
    assert post_token(http, form(ps)).status_code == 200


def test_rule3_alg_pinned_per_key(http, office) -> None:
    """An EC client cannot present a PS256 assertion (its key is pinned to ES256)."""
    attacker = new_rsa_key()
    token = craft({"alg": "PS256"}, claims_for(office.client_id, ISSUER), attacker)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


# Rule 4 ---------------------------------------------------------------------------------


def test_rule4_unregistered_key(http, office) -> None:
    token = craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), new_ec_key())
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


def test_rule4_embedded_jwk_header_is_ignored(http, office) -> None:
    from hws.keys.public_keys import public_jwk

    attacker = new_ec_key()
    for member in ({"jwk": public_jwk(attacker.public_key())}, {"jku": "http://evil/jwks"}, {"x5u": "http://evil/c"}):
        token = craft({"alg": "ES256", **member}, claims_for(office.client_id, ISSUER), attacker)
        assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


def test_rule4_key_chosen_by_kid_or_by_trying_each(http, auth_service, office) -> None:
    second = new_ec_key()
    auth_service.registry.add_key(office.client_id, read_certificate(self_signed(second)))
    for key, kid in ((office.key, office.kid), (second, None)):
        header = {"alg": "ES256", **({"kid": kid} if kid else {})}
        assert post_token(http, form(craft(header, claims_for(office.client_id, ISSUER), key))).status_code == 200
    # An unknown kid is not silently ignored.
    token = craft({"alg": "ES256", "kid": "unknown"}, claims_for(office.client_id, ISSUER), office.key)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


def test_rule4_another_clients_key(http, auth_service, office) -> None:
    other = enrol(auth_service, office="US", networks=("127.0.0.1/32",))
    token = craft({"alg": "ES256", "kid": other.kid}, claims_for(office.client_id, ISSUER), other.key)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


# Rule 5 ---------------------------------------------------------------------------------


def test_rule5_payload_tampered_after_signing(http, office) -> None:
    token = craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), office.key)
    h, _, s = token.split(".")
    tampered = segment(claims_for(office.client_id, ISSUER, lifetime=120))
    assert_oauth_error(post_token(http, form(f"{h}.{tampered}.{s}")), 401, "invalid_client")


def test_rule5_signature_not_64_bytes(http, office) -> None:
    token = craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), office.key)
    h, p, s = token.split(".")
    sig = base64.urlsafe_b64decode(s + "==")
    from hws.keys.public_keys import b64url_encode

    assert_oauth_error(post_token(http, form(f"{h}.{p}.{b64url_encode(sig[1:])}")), 401, "invalid_client")


def test_rule5_unknown_crit(http, office) -> None:
    token = craft({"alg": "ES256", "crit": ["x"], "x": 1}, claims_for(office.client_id, ISSUER), office.key)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


# Rule 6 ---------------------------------------------------------------------------------


def test_rule6_wrong_iss(http, office) -> None:
    assert_oauth_error(post_token(http, form(es256(office, iss="someone-else"))), 401, "invalid_client")


def test_rule6_wrong_sub(http, auth_service, office) -> None:
    other = enrol(auth_service, office="US")
    assert_oauth_error(post_token(http, form(es256(office, sub=other.client_id))), 401, "invalid_client")


def test_rule6_no_sub(http, office) -> None:
    assert_oauth_error(post_token(http, form(es256(office, sub=None))), 401, "invalid_client")


def test_rule6_unknown_client(http, office) -> None:
    assert_oauth_error(post_token(http, form(es256(office, iss="nobody", sub="nobody"))), 401, "invalid_client")


def test_rule6_disabled_client(http, auth_service, office) -> None:
    auth_service.registry.set_active(office.client_id, False)
    assert_oauth_error(post_token(http, form(es256(office))), 401, "invalid_client")
    auth_service.registry.set_active(office.client_id, True)
    assert post_token(http, form(es256(office))).status_code == 200


def test_rule6_expired_certificate(tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    from hws.domain.clock import FixedClock

    clock = FixedClock(time.time())
    service = make_service(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite3'}", clock=clock)
    key = new_ec_key()
    client = service.registry.add(
        office="FR", certificate=read_certificate(self_signed(key, days=2, start_days=-1)), networks=["127.0.0.1/32"]
    )
    http = make_client(service)
    token = craft({"alg": "ES256"}, claims_for(client.client_id, ISSUER, now=clock.timestamp()), key)
    assert post_token(http, form(token)).status_code == 200
    clock.advance(2 * 86400)  # the certificate has expired since enrolment
    token = craft({"alg": "ES256"}, claims_for(client.client_id, ISSUER, now=clock.timestamp()), key)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")
    service.close()


def test_enrolling_an_expired_certificate_is_refused(auth_service) -> None:
    from hws.store.clients import RegistryError

    expired = read_certificate(self_signed(new_ec_key(), days=5, start_days=-10))
    with pytest.raises(RegistryError, match="expired"):
        auth_service.registry.add(office="FR", certificate=expired, networks=["127.0.0.1/32"])


def test_rule6_client_outside_validity_period(http, auth_service) -> None:
    from datetime import UTC, datetime, timedelta

    key = new_ec_key()
    client = auth_service.registry.add(
        office="DE",
        certificate=read_certificate(self_signed(key)),
        networks=["127.0.0.1/32"],
        not_after=datetime.now(UTC) - timedelta(days=1),
    )
    token = craft({"alg": "ES256"}, claims_for(client.client_id, ISSUER), key)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


# Rule 7 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aud",
    [
        "https://other-server.example/oauth2",
        [ISSUER, "https://evil.example"],
        ISSUER + "/",
        TOKEN_ENDPOINT + "/",
        "HTTP://HWS.TEST/oauth2",
        None,
        42,
    ],
)
def test_rule7_wrong_audience(http, office, aud) -> None:  # type: ignore[no-untyped-def]
    assert_oauth_error(post_token(http, form(es256(office, aud=aud))), 401, "invalid_client")


@pytest.mark.parametrize("aud", [ISSUER, TOKEN_ENDPOINT])
def test_rule7_issuer_or_token_endpoint_accepted_in_compat_mode(http, office, aud: str) -> None:
    assert post_token(http, form(es256(office, aud=aud))).status_code == 200


@pytest.fixture
def strict(tmp_path: Path, make_client):  # type: ignore[no-untyped-def]
    service = make_service(
        tmp_path / "strict", f"sqlite:///{tmp_path / 'strict.sqlite3'}", assertion_audience=AudiencePolicy.STRICT
    )
    yield service, make_client(service), enrol(service)
    service.close()


def test_rule7_strict_mode_accepts_only_the_issuer(strict) -> None:  # type: ignore[no-untyped-def]
    _service, http, office = strict
    assert post_token(http, form(es256(office, aud=ISSUER))).status_code == 200
    assert_oauth_error(post_token(http, form(es256(office, aud=TOKEN_ENDPOINT))), 401, "invalid_client")
    assert_oauth_error(post_token(http, form(es256(office, aud=[ISSUER]))), 401, "invalid_client")


# Rules 8, 9 -------------------------------------------------------------------------------


def test_rule8_expired_five_minutes_ago(http, office) -> None:
    now = int(time.time())
    body = assert_oauth_error(post_token(http, form(es256(office, iat=now - 360, exp=now - 300))), 401, "invalid_client")
    assert "expired" in body["error_description"]


def test_rule8_within_leeway_accepted(http, office) -> None:
    now = int(time.time())
    assert post_token(http, form(es256(office, iat=now - 60, exp=now - 10))).status_code == 200


def test_rule8_no_exp(http, office) -> None:
    assert_oauth_error(post_token(http, form(es256(office, exp=None))), 401, "invalid_client")


def test_rule8_exp_one_day_ahead(http, office) -> None:
    now = int(time.time())
    assert_oauth_error(post_token(http, form(es256(office, iat=now, exp=now + 86400))), 401, "invalid_client")
    assert_oauth_error(post_token(http, form(es256(office, iat=None, exp=now + 86400))), 401, "invalid_client")


def test_rule8_exp_not_a_number(http, office) -> None:
    assert_oauth_error(post_token(http, form(es256(office, exp="tomorrow"))), 401, "invalid_client")
    assert_oauth_error(post_token(http, form(es256(office, exp=True))), 401, "invalid_client")


def test_rule9_nbf_8_seconds_in_the_future_is_accepted(http, office) -> None:
    now = int(time.time())
    assert post_token(http, form(es256(office, nbf=now + 8, exp=now + 60))).status_code == 200


def test_rule9_nbf_over_60_seconds_in_the_future_fails(http, office) -> None:
    now = int(time.time())
    assert_oauth_error(post_token(http, form(es256(office, nbf=now + 62, exp=now + 120))), 401, "invalid_client")


def test_rule9_iat_over_60_seconds_in_the_future_fails(http, office) -> None:
    now = int(time.time())
    assert_oauth_error(post_token(http, form(es256(office, iat=now + 62, exp=now + 120))), 401, "invalid_client")


# Rule 10 ----------------------------------------------------------------------------------


def test_rule10_same_assertion_twice(http, office) -> None:
    data = form(es256(office))
    assert post_token(http, data).status_code == 200
    assert_oauth_error(post_token(http, data), 401, "invalid_client")


def test_rule10_same_jti_in_a_new_assertion(http, office) -> None:
    assert post_token(http, form(es256(office, jti="fixed-jti"))).status_code == 200
    assert_oauth_error(post_token(http, form(es256(office, jti="fixed-jti", exp=int(time.time()) + 30))), 401, "invalid_client")


def test_rule10_without_jti_the_assertion_hash_is_single_use(http, office) -> None:
    data = form(es256(office, jti=None))
    assert post_token(http, data).status_code == 200
    assert_oauth_error(post_token(http, data), 401, "invalid_client")


def test_rule10_same_jti_is_per_client(http, auth_service, office) -> None:
    other = enrol(auth_service, office="US")
    assert post_token(http, form(es256(office, jti="shared"))).status_code == 200
    assert post_token(http, form(es256(other, jti="shared"))).status_code == 200


# Rule 11 ----------------------------------------------------------------------------------


def test_rule11_access_token_replayed_as_assertion(http, office) -> None:
    access_token = post_token(http, form(es256(office))).json()["access_token"]
    assert_oauth_error(post_token(http, form(access_token)), 401, "invalid_client")


@pytest.mark.parametrize("typ", ["at+jwt", "JWE", "dpop+jwt", 1])
def test_rule11_other_typ_refused(http, office, typ) -> None:  # type: ignore[no-untyped-def]
    token = craft({"alg": "ES256", "typ": typ}, claims_for(office.client_id, ISSUER), office.key)
    assert_oauth_error(post_token(http, form(token)), 401, "invalid_client")


@pytest.mark.parametrize("typ", [None, "JWT", "client-authentication+jwt"])
def test_rule11_accepted_typ(http, office, typ) -> None:  # type: ignore[no-untyped-def]
    header = {"alg": "ES256", **({"typ": typ} if typ else {})}
    assert post_token(http, form(craft(header, claims_for(office.client_id, ISSUER), office.key))).status_code == 200


# Rule 12 ----------------------------------------------------------------------------------


def test_rule12_request_from_outside_the_range(auth_service, office, make_client) -> None:
    outsider = make_client(auth_service, peer="198.51.100.7")
    assert_oauth_error(post_token(outsider, form(es256(office))), 401, "invalid_client")
    inside = make_client(auth_service, peer="192.0.2.77")
    assert post_token(inside, form(es256(office))).status_code == 200


def test_rule12_spoofed_forwarded_for_from_untrusted_peer(auth_service, office, make_client) -> None:
    outsider = make_client(auth_service, peer="198.51.100.7")
    response = post_token(outsider, form(es256(office)), headers={"X-Forwarded-For": "127.0.0.1"})
    assert_oauth_error(response, 401, "invalid_client")


def test_rule12_forwarded_for_believed_from_trusted_proxy(tmp_path: Path, make_client) -> None:
    service = make_service(tmp_path, f"sqlite:///{tmp_path / 'p.sqlite3'}", trusted_proxies=["10.0.0.0/8"])
    office = enrol(service, networks=("192.0.2.0/24",))
    proxy = make_client(service, peer="10.1.2.3")
    ok = post_token(proxy, form(es256(office)), headers={"X-Forwarded-For": "203.0.113.9, 192.0.2.5"})
    assert ok.status_code == 200, ok.text
    # The proxy appends the real peer on the right: an address the client wrote on the
    # left is not believed.
    spoof = post_token(proxy, form(es256(office)), headers={"X-Forwarded-For": "192.0.2.5, 203.0.113.9"})
    assert_oauth_error(spoof, 401, "invalid_client")
    service.close()


# Rule 13 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["hws/unknown", "hws/admin", "hws/requests hws/admin"])
def test_rule13_scope_not_granted(http, office, scope: str) -> None:
    assert_oauth_error(post_token(http, form(es256(office), scope=scope)), 400, "invalid_scope")


def test_rule13_empty_scope_gets_the_defaults(http, office) -> None:
    body = post_token(http, form(es256(office), scope="")).json()
    assert body["scope"] == "hws/requests hws/publications"


def test_rule13_subset_granted(http, office) -> None:
    assert post_token(http, form(es256(office), scope="hws/publications")).json()["scope"] == "hws/publications"


# Rule 14 ----------------------------------------------------------------------------------


def test_rule14_errors_do_not_help_an_attacker(http, auth_service, office) -> None:
    """Every invalid_client answer for identity, key, signature and address problems is
    the same generic sentence; none carries key material, paths or stack traces."""
    attacker = new_ec_key()
    cases = [
        es256(office, iss="x"),
        es256(office, iss="nobody", sub="nobody"),
        craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), attacker),
        craft({"alg": "ES256", "kid": "nope"}, claims_for(office.client_id, ISSUER), office.key),
        craft({"alg": "none"}, claims_for(office.client_id, ISSUER), None),
        "garbage",
    ]
    for assertion in cases:
        body = assert_oauth_error(post_token(http, form(assertion)), 401, "invalid_client")
        assert body == {"error": "invalid_client", "error_description": GENERIC}
    for response in (
        post_token(http, {"grant_type": "password"}),
        post_token(http, form(es256(office), scope="hws/admin")),
    ):
        text = response.text
        assert response.headers["cache-control"] == "no-store"
        assert "Traceback" not in text and "BEGIN" not in text and office.kid not in text


@pytest.mark.parametrize("alg", ["none", "HS256", "HS512", "RS256", "ES384", "EdDSA", None, ["ES256"]])
def test_rule3_named_check_refuses_other_algs(alg) -> None:  # type: ignore[no-untyped-def]
    """The header check itself (keys are also pinned to one alg: both must hold)."""
    from hws.auth import assertion as rules
    from hws.auth.errors import OAuthError

    with pytest.raises(OAuthError) as info:
        rules.check_alg({"alg": alg})
    assert info.value.error == "invalid_client"
    assert rules.check_alg({"alg": "ES256"}) == "ES256" and rules.check_alg({"alg": "PS256"}) == "PS256"
