"""Property tests: the JWS parser refuses anything odd with MalformedJWS, never crashes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hws.auth import jws_checks as jws
from hws.keys.jose import sign
from hws.keys.public_keys import b64url_decode, b64url_encode
from tests.support.jose import new_ec_key

KEY = new_ec_key()
GOOD = sign({"alg": "ES256"}, {"iss": "a"}, KEY)


@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    try:
        token = jws.parse_compact(text, max_bytes=8192)
    except jws.MalformedJWS:
        return
    assert isinstance(token.header, dict)


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.characters(codec="ascii"))
def test_single_character_mutation_never_verifies(position: int, char: str) -> None:
    mutated = GOOD[:position] + char + GOOD[position + 1 :]
    if mutated == GOOD:
        return
    try:
        token = jws.parse_compact(mutated, max_bytes=8192)
        token.claims()
    except jws.MalformedJWS:
        return
    assert not jws.verify(token, "ES256", KEY.public_key()) or mutated.split(".") == GOOD.split(".")


@given(st.binary(max_size=100))
def test_base64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


def test_sign_verify_round_trip() -> None:
    token = jws.parse_compact(GOOD, max_bytes=8192)
    assert jws.verify(token, "ES256", KEY.public_key())
    assert not jws.verify(token, "PS256", KEY.public_key())
    assert not jws.verify(token, "ES256", new_ec_key().public_key())
