"""Compact JWS on joserfc: ES256 and PS256 only, ES256 signed low-S, checked against an
independent verification with cryptography."""

from __future__ import annotations

import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import UnsupportedKeyOperationError
from joserfc.jwk import ECKey

from hws.keys import jose
from hws.keys.public_keys import PrivateKey, b64url_decode, public_jwk

EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(65537, 2048)


def _parts(token: str) -> tuple[dict[str, object], dict[str, object], bytes, bytes]:
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), f"{h}.{p}".encode(), b64url_decode(s)


def test_es256_tokens_verify_independently_and_are_low_s() -> None:
    for n in range(40):  # about half of raw ECDSA signatures are high-S
        token = jose.sign({"alg": "ES256", "kid": "k"}, {"n": n}, EC_KEY)
        header, claims, signing_input, signature = _parts(token)
        assert header == {"alg": "ES256", "kid": "k"} and claims == {"n": n}
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        assert len(signature) == 64 and s <= jose.P256_HALF_ORDER
        EC_KEY.public_key().verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
        assert jose.verify(signing_input, signature, "ES256", EC_KEY.public_key())


def test_ps256_tokens_verify_independently() -> None:
    token = jose.sign({"alg": "PS256"}, {"a": 1}, RSA_KEY)
    _, _, signing_input, signature = _parts(token)
    RSA_KEY.public_key().verify(
        signature, signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )
    assert jose.verify(signing_input, signature, "PS256", RSA_KEY.public_key())
    assert jose.verify(signing_input, signature, "PS256", jose.verification_key(public_jwk(RSA_KEY.public_key())))


def test_a_converted_key_signs_and_verifies_like_the_raw_one() -> None:
    token = jose.sign({"alg": "ES256"}, {"a": 1}, jose.jose_key(EC_KEY))
    _, _, signing_input, signature = _parts(token)
    assert jose.verify(signing_input, signature, "ES256", jose.verification_key(public_jwk(EC_KEY.public_key())))


@pytest.mark.parametrize(
    ("alg", "key"),
    [("ES256", RSA_KEY), ("PS256", EC_KEY), ("RS256", RSA_KEY), ("HS256", EC_KEY), ("none", EC_KEY), (None, EC_KEY)],
)
def test_sign_refuses_other_algorithms_and_mismatched_keys(alg: str | None, key: PrivateKey) -> None:
    with pytest.raises(ValueError, match="cannot sign"):
        jose.sign({"alg": alg}, {"a": 1}, key)


def test_verify_is_false_for_a_wrong_key_alg_or_signature() -> None:
    _, _, signing_input, signature = _parts(jose.sign({"alg": "ES256"}, {"a": 1}, EC_KEY))
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert not jose.verify(signing_input, signature, "ES256", other)
    assert not jose.verify(signing_input, signature, "PS256", EC_KEY.public_key())
    assert not jose.verify(signing_input, signature, "ES256", RSA_KEY.public_key())
    assert not jose.verify(signing_input, signature, "ES384", EC_KEY.public_key())
    assert not jose.verify(signing_input + b"x", signature, "ES256", EC_KEY.public_key())
    assert not jose.verify(signing_input, signature[:63], "ES256", EC_KEY.public_key())
    with pytest.raises(InvalidSignature):  # and the independent check agrees
        EC_KEY.public_key().verify(
            encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")),
            signing_input + b"x",
            ec.ECDSA(hashes.SHA256()),
        )


def test_verification_key_refuses_what_it_cannot_use() -> None:
    with pytest.raises(ValueError):
        jose.verification_key({"kty": "oct", "k": "c2VjcmV0"})
    with pytest.raises(ValueError):
        jose.verification_key({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})


def _es256_variants(signature: bytes) -> list[bytes]:
    """The signature, its high-S twin, and signatures of the wrong shape or out of range."""
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    n = jose.P256_ORDER

    def raw(a: int, b: int) -> bytes:
        return a.to_bytes(32, "big") + b.to_bytes(32, "big")

    return [
        signature,
        raw(r, n - s),  # the high-S twin: ECDSA accepts it (refusing it is jws_checks' rule)
        raw(r, s ^ 1),
        raw(0, s),
        raw(r, 0),
        raw(n, s),
        raw(r, n),
        signature[:63],
        signature + b"\x00",
        b"",
    ]


def test_es256_verify_agrees_with_the_librarys_algorithm() -> None:
    """ES256 verifies through cryptography directly: the same verdict as joserfc's ES256
    for every signature shape, with a raw key, a parsed JWK and a converted private key."""
    library = jose._MODELS["ES256"]
    public = EC_KEY.public_key()
    for n in range(8):
        _, _, signing_input, signature = _parts(jose.sign({"alg": "ES256"}, {"n": n}, EC_KEY))
        for key in (public, jose.verification_key(public_jwk(public)), jose.jose_key(EC_KEY)):
            jkey = key if not isinstance(key, ec.EllipticCurvePublicKey) else jose.jose_key(key)
            for variant in _es256_variants(signature):
                for message in (signing_input, signing_input + b"x"):
                    expected = library.verify(message, variant, jkey)
                    assert jose.verify(message, variant, "ES256", key) is expected, (n, variant.hex())
        assert jose.verify(signing_input, signature, "ES256", public)


def test_es256_verify_keeps_the_librarys_key_checks() -> None:
    """A key the library would not use for ES256 verification (another curve, declared for
    encryption, or without the verify operation) is refused as before."""
    _, _, signing_input, signature = _parts(jose.sign({"alg": "ES256"}, {"a": 1}, EC_KEY))
    jwk = public_jwk(EC_KEY.public_key())
    p384 = jose.jose_key(ec.generate_private_key(ec.SECP384R1()).public_key())
    assert not jose.verify(signing_input, signature, "ES256", p384)
    assert not jose.verify(signing_input, signature, "ES256", ECKey.import_key({**jwk, "use": "enc"}))
    with pytest.raises(UnsupportedKeyOperationError):  # as the library's algorithm raises
        jose.verify(signing_input, signature, "ES256", ECKey.import_key({**jwk, "key_ops": ["encrypt"]}))
    with pytest.raises(UnsupportedKeyOperationError):
        jose._MODELS["ES256"].verify(signing_input, signature, ECKey.import_key({**jwk, "key_ops": ["encrypt"]}))


def test_es256_signed_refuses_a_key_that_cannot_sign() -> None:
    with pytest.raises(UnsupportedKeyOperationError):  # a public key: what the library raised
        jose.signed("e30.e30", "ES256", jose.jose_key(EC_KEY.public_key()))
    with pytest.raises(ValueError, match="cannot sign"):
        jose.signed("e30.e30", "ES256", jose.jose_key(RSA_KEY))
