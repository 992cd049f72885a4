"""DPoP proof checks (RFC 9449 §4.3), one negative test per step, and the server nonces.

Proofs are built here by hand (``tests.support.jose``: raw signatures), not by the office
kit, so each malformation can be made on purpose.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from hws.auth import dpop
from hws.keys.public_keys import b64url_encode, public_jwk, thumbprint
from tests.support.jose import raw_sign, segment

URI = "https://hws.example.org/webservices/api/v1/pingMe"
POLICY = dpop.ProofPolicy(max_age=60, leeway=30)
NOW = 1_800_000_000.0
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def build(
    claims: dict[str, Any] | None = None,
    header: dict[str, Any] | None = None,
    *,
    key: Any = EC_KEY,
    alg: str = "ES256",
    drop: tuple[str, ...] = (),
) -> str:
    body = {"jti": "j-1", "htm": "GET", "htu": URI, "iat": int(NOW), **(claims or {})}
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": public_jwk(key.public_key()), **(header or {})}
    for name in drop:
        body.pop(name, None)
        head.pop(name, None)
    signing_input = f"{segment(head)}.{segment(body)}".encode()
    return f"{signing_input.decode()}.{b64url_encode(raw_sign(signing_input, key, alg))}"


def check(proof: str | list[str], **kwargs: Any) -> dpop.Proof:
    values = proof if isinstance(proof, list) else [proof]
    return dpop.check_proof(
        values, method=kwargs.pop("method", "GET"), uri=kwargs.pop("uri", URI), now=NOW, policy=POLICY, **kwargs
    )


def refused(proof: str | list[str], reason: str, **kwargs: Any) -> None:
    with pytest.raises(dpop.DPoPError) as caught:
        check(proof, **kwargs)
    assert caught.value.error == "invalid_dpop_proof"
    assert reason in caught.value.reason


def test_a_valid_proof_gives_its_key_thumbprint_and_single_use_key() -> None:
    proof = check(build())
    assert proof.jkt == thumbprint(public_jwk(EC_KEY.public_key()))
    assert proof.jti == "j-1" and proof.iat == int(NOW)
    assert proof.replay_until == int(NOW) + 60 + 30 + 1
    # the single-use key is the key and the jti, not the signature: the same jti by another key is another use
    other = ec.generate_private_key(ec.SECP256R1())
    assert check(build(key=other)).replay_key != proof.replay_key
    assert check(build()).replay_key == proof.replay_key


def test_ps256_proofs_are_accepted() -> None:
    assert check(build(key=RSA_KEY, alg="PS256")).jkt == thumbprint(public_jwk(RSA_KEY.public_key()))


def test_step1_exactly_one_header() -> None:
    refused([], "no DPoP proof")
    refused([build(), build()], "more than one DPoP header")


@pytest.mark.parametrize("value", ["", "a.b", "a.b.c.d.e", "not base64.!!.x", "e30.e30", "W10.e30.AA", "e30.W10.AA"])
def test_step2_malformed(value: str) -> None:
    refused(value, "malformed DPoP proof")


@pytest.mark.parametrize("typ", [None, "JWT", "DPOP+JWT", "at+jwt", "application/dpop+jwt"])
def test_step4_typ_must_be_dpop_jwt(typ: str | None) -> None:
    refused(build(header={"typ": typ}) if typ else build(drop=("typ",)), "typ must be 'dpop+jwt'")


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256"])
def test_step5_alg_must_be_asymmetric_and_ours(alg: str) -> None:
    key = RSA_KEY if alg == "RS256" else b"secret-secret-secret-secret-0123" if alg == "HS256" else EC_KEY
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": public_jwk(EC_KEY.public_key())}
    body = {"jti": "j", "htm": "GET", "htu": URI, "iat": int(NOW)}
    signing_input = f"{segment(head)}.{segment(body)}".encode()
    refused(f"{signing_input.decode()}.{b64url_encode(raw_sign(signing_input, key, alg))}", f"alg {alg!r} is not one of")


def test_step6_crit_is_refused() -> None:
    refused(build(header={"crit": ["exp"]}), "critical extensions")


def test_step7_jwk_must_be_a_public_key() -> None:
    refused(build(drop=("jwk",)), "has no jwk")
    numbers = EC_KEY.private_numbers()
    private = {**public_jwk(EC_KEY.public_key()), "d": b64url_encode(numbers.private_value.to_bytes(32, "big"))}
    refused(build(header={"jwk": private}), "contains a private key")
    refused(build(header={"jwk": {"kty": "oct", "k": "c2VjcmV0"}}), "contains a private key")
    refused(build(header={"jwk": {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}}), "not a usable")


def test_step8_signature_by_the_jwk() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    refused(build(header={"jwk": public_jwk(other.public_key())}), "does not verify with its jwk")
    # an RSA key in jwk with an ES256 proof: the key type is the one alg is pinned to
    refused(build(header={"jwk": public_jwk(RSA_KEY.public_key())}), "does not verify")
    tampered = build().split(".")
    tampered[1] = segment({"jti": "j-2", "htm": "GET", "htu": URI, "iat": int(NOW)})
    refused(".".join(tampered), "does not verify")


def test_step9_htm_and_htu_match_the_request() -> None:
    refused(build({"htm": "POST"}), "htm 'POST' is not this request's method GET")
    refused(build({"htm": "get"}), "htm 'get'")
    refused(build(drop=("htm",)), "htm None")
    refused(build({"htu": "https://hws.example.org/webservices/api/v1/other"}), "htu")
    refused(build({"htu": "https://evil.example/webservices/api/v1/pingMe"}), "htu")
    refused(build({"htu": "http://hws.example.org/webservices/api/v1/pingMe"}), "htu")  # scheme matters
    refused(build({"htu": 42}), "htu 42")
    refused(build(drop=("htu",)), "htu None")
    # query, fragment, case of scheme and host, the default port: normalised (RFC 9449 §4.3, RFC 3986 §6.2)
    for same in (f"{URI}?x=1", f"{URI}#f", "HTTPS://HWS.example.ORG:443/webservices/api/v1/pingMe"):
        assert check(build({"htu": same})).jti == "j-1"


def test_step11_jti_and_iat() -> None:
    refused(build(drop=("jti",)), "jti must be a string")
    refused(build({"jti": ""}), "jti must be a string")
    refused(build({"jti": "x" * 257}), "jti must be a string")
    refused(build({"jti": 7}), "jti must be a string")
    refused(build(drop=("iat",)), "iat must be a NumericDate")
    refused(build({"iat": "1800000000"}), "iat must be a NumericDate")
    refused(build({"iat": True}), "iat must be a NumericDate")
    refused(build({"iat": int(NOW) - 61}), "61 s old")
    refused(build({"iat": int(NOW) - 3600}), "3600 s old")
    refused(build({"iat": int(NOW) + 31}), "31 s in the future")
    refused(build({"iat": int(NOW) + 3600}), "in the future")
    for fine in (int(NOW) - 10, int(NOW) - 60, int(NOW) + 8, int(NOW) + 30):
        assert check(build({"iat": fine})).iat == fine


def test_step12_ath_binds_the_access_token() -> None:
    token = "eyJ.token.value"
    ath = b64url_encode(hashlib.sha256(token.encode()).digest())
    assert check(build({"ath": ath}), access_token=token).jti == "j-1"
    refused(build(), "ath does not match", access_token=token)
    refused(build({"ath": ath[:-1] + ("A" if ath[-1] != "A" else "B")}), "ath does not match", access_token=token)
    refused(build({"ath": ath}), "ath does not match", access_token=token + "x")


def test_nonce_required_and_checked() -> None:
    nonces = dpop.Nonces(lifetime=300)
    secret, other_secret = b"s" * 32, b"t" * 32
    current = nonces.current(secret, NOW)

    def nonce_ok(value: object) -> bool:
        return nonces.accepts(value, [secret], NOW)

    with pytest.raises(dpop.DPoPError) as missing:
        check(build(), nonce_ok=nonce_ok)
    assert missing.value.error == "use_dpop_nonce"
    with pytest.raises(dpop.DPoPError) as wrong:
        check(build({"nonce": nonces.current(other_secret, NOW)}), nonce_ok=nonce_ok)
    assert wrong.value.error == "use_dpop_nonce"
    assert check(build({"nonce": current}), nonce_ok=nonce_ok).jti == "j-1"
    # an invalid proof is invalid_dpop_proof even without a nonce (the nonce is checked last)
    refused(build({"htm": "PUT"}), "htm", nonce_ok=nonce_ok)


def test_nonces_rotate_and_the_previous_one_is_accepted() -> None:
    nonces = dpop.Nonces(lifetime=300)
    secret = b"k" * 32
    first = nonces.current(secret, NOW)
    assert nonces.current(secret, NOW + 1) == first or (NOW // 300) != ((NOW + 1) // 300)
    later = NOW + 300
    assert nonces.current(secret, later) != first
    assert nonces.accepts(first, [secret], later)  # previous window
    assert not nonces.accepts(first, [secret], NOW + 600)  # two windows on: expired
    assert not nonces.accepts(nonces.current(secret, NOW + 300), [secret], NOW)  # from the future
    assert nonces.accepts(first, [b"x" * 32, secret], NOW)  # made under another published key
    for junk in (None, 5, "", "x" * 35, first[:-1], first + "A", first.upper()):
        assert not nonces.accepts(junk, [secret], NOW)
    # NQCHAR only (RFC 9449 §8.1): base64url is within it
    assert all(c.isalnum() or c in "-_" for c in first)


def test_canonical_uri() -> None:
    assert dpop.canonical_uri("HTTP://Example.COM:80") == "http://example.com/"
    assert dpop.canonical_uri("https://example.com:8443/a/b?c#d") == "https://example.com:8443/a/b"
    assert dpop.canonical_uri("https://[::1]:443/x") == "https://[::1]/x"
    for bad in ("/relative", "mailto:x@example.com", "https://exa mple.com:99999/"):
        with pytest.raises(dpop.DPoPError):
            dpop.canonical_uri(bad)


@given(st.text(max_size=300))
def test_any_header_value_is_refused_cleanly(value: str) -> None:
    with pytest.raises(dpop.DPoPError):
        check(value)


@given(
    st.dictionaries(
        st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.floats()),
    )
)
def test_any_claim_values_are_refused_or_accepted_never_crash(claims: dict[str, Any]) -> None:
    try:
        check(build(claims), access_token="tok")
    except dpop.DPoPError as exc:
        assert exc.error in ("invalid_dpop_proof", "use_dpop_nonce")


def test_a_proof_the_office_kit_signs_passes_every_check() -> None:
    from hws.client.dpop import DPoPKey

    kit = DPoPKey.generate()
    now = time.time()
    proof = dpop.check_proof(
        [kit.proof("GET", f"{URI}?q=1", access_token="tok", now=now)],
        method="GET", uri=URI, now=now, policy=POLICY, access_token="tok",
    )  # fmt: skip
    assert proof.jkt == kit.jkt
