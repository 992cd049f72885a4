"""JWKs, thumbprints, strict base64url and the algorithm a key is pinned to."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from hws.keys.public_keys import alg_for_key, b64url_decode, b64url_encode, key_from_jwk, public_jwk, thumbprint

#: RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
    "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91"
    "CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_rfc_7638_example_thumbprint() -> None:
    assert thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_an_rsa_key_round_trips_and_keeps_its_thumbprint() -> None:
    key = key_from_jwk(RFC7638_JWK)
    assert isinstance(key, rsa.RSAPublicKey)
    assert public_jwk(key) == {"e": "AQAB", "kty": "RSA", "n": RFC7638_JWK["n"]}
    assert thumbprint(public_jwk(key)) == RFC7638_THUMBPRINT


def test_a_p256_jwk_has_the_required_members_in_order_and_round_trips() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = public_jwk(key)
    assert list(jwk) == ["crv", "kty", "x", "y"] and jwk["crv"] == "P-256"
    assert len(b64url_decode(jwk["x"])) == 32 and len(b64url_decode(jwk["y"])) == 32
    again = key_from_jwk(jwk)
    assert isinstance(again, ec.EllipticCurvePublicKey) and again.public_numbers() == key.public_numbers()
    assert thumbprint({**jwk, "kid": "ignored", "use": "sig"}) == thumbprint(jwk)


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},  # not a point on the curve
        {},
    ],
)
def test_unusable_jwks_are_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        key_from_jwk(jwk)


def test_keys_are_pinned_to_one_algorithm() -> None:
    assert alg_for_key(ec.generate_private_key(ec.SECP256R1()).public_key()) == "ES256"
    assert alg_for_key(rsa.generate_private_key(65537, 2048).public_key()) == "PS256"
    with pytest.raises(ValueError, match="P-256"):
        alg_for_key(ec.generate_private_key(ec.SECP384R1()).public_key())
    with pytest.raises(ValueError, match="2048"):
        alg_for_key(rsa.generate_private_key(65537, 1024).public_key())
    with pytest.raises(ValueError, match="unsupported"):
        alg_for_key("not a key")
    with pytest.raises(ValueError, match="P-256"):
        public_jwk(ec.generate_private_key(ec.SECP384R1()).public_key())


@given(st.binary(max_size=200))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


@given(st.binary(min_size=1, max_size=60))
def test_base64url_refuses_padding_other_alphabets_and_non_canonical_bits(data: bytes) -> None:
    text = b64url_encode(data)
    padded = base64.urlsafe_b64encode(data).decode()
    if padded != text:
        with pytest.raises(ValueError):
            b64url_decode(padded)
    standard = base64.b64encode(data).decode().rstrip("=")
    if standard != text:
        with pytest.raises(ValueError):
            b64url_decode(standard)
    if len(text) % 4 in (2, 3):  # the last character carries unused bits: set one
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet.index(text[-1])
        tweaked = text[:-1] + alphabet[last ^ 1]
        with pytest.raises(ValueError, match="non-canonical"):
            b64url_decode(tweaked)
