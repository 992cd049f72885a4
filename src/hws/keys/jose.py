"""Compact JWS signing and verification (RFC 7515), ES256 and PS256 only, on joserfc.

The library's key model checks each key (type, curve, ``use``, ``alg``, ``key_ops``) and
gives the native key; PS256 signs and verifies through the library's algorithm. ES256
makes the same two calls the library's algorithm makes (``cryptography``'s ECDSA with
SHA-256 on the native key, the raw r‖s of RFC 7518 §3.4 converted to and from DER),
directly: the token endpoint does one of each per token, and the library's wrapper
(building the ECDSA parameters and converting the integers through hex each time) cost
a noticeable part of them. What we accept of a token before it is verified (its compact
form, its JSON members, the signature's shape, low-S) is ours, as named checks in
:mod:`hws.auth.jws_checks`. We sign ES256 low-S, so a strict verifier takes ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from hws.keys.public_keys import JoseKey as JoseKey
from hws.keys.public_keys import PrivateKey, PublicKey, b64url_encode
from hws.keys.public_keys import verification_key as verification_key

SUPPORTED_ALGS = ("ES256", "PS256")

#: the order n of P-256's base point (SEC 2, FIPS 186-4 D.1.2.3). An ECDSA signature
#: (r, s) verifies exactly when (r, n − s) does; the low-S one has s ≤ n/2.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_ORDER = P256_ORDER // 2

_REGISTRY = JWSRegistry(algorithms=SUPPORTED_ALGS, strict_check_header=False)
#: the library's algorithm of each name, looked up once
_MODELS = {alg: _REGISTRY.get_alg(alg) for alg in SUPPORTED_ALGS}
_KEY_CLASS = {"ES256": (ECKey, ec.EllipticCurvePrivateKey), "PS256": (RSAKey, rsa.RSAPrivateKey)}
#: ES256's signature algorithm (immutable; built once rather than per signature)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def jose_key(key: PrivateKey | PublicKey) -> JoseKey:
    """``key`` in the library's form."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ECKey.import_key(key)
    return RSAKey.import_key(key)


def sign(header: Mapping[str, Any], claims: Mapping[str, Any], key: PrivateKey | JoseKey) -> str:
    """A compact JWS of ``claims``; ``header['alg']`` must match the key (ES256 or PS256).
    A key signing often is best passed once converted (:func:`jose_key`)."""
    alg = header.get("alg")
    raw = key.private_key if isinstance(key, ECKey | RSAKey) else key
    if alg not in _KEY_CLASS or not isinstance(raw, _KEY_CLASS[alg][1]):
        raise ValueError(f"cannot sign {alg!r} with a {type(key).__name__}")
    signer = key if isinstance(key, ECKey | RSAKey) else jose_key(key)
    return signed(f"{segment(header)}.{segment(claims)}", alg, signer)


def signed(signing_input: str, alg: str, signer: JoseKey) -> str:
    """The compact JWS of ``signing_input`` (its header and payload segments, already
    encoded) signed by ``signer`` with ``alg`` — for a caller that keeps segments it
    reuses; :func:`sign` checks the key against ``alg`` first."""
    if alg == "ES256":  # raw r‖s (RFC 7518 §3.4), low-S
        if not isinstance(signer, ECKey):
            raise ValueError(f"cannot sign ES256 with a {type(signer).__name__}")
        r, s = decode_dss_signature(signer.get_op_key("sign").sign(signing_input.encode("ascii"), _ECDSA_SHA256))
        if s > P256_HALF_ORDER:
            s = P256_ORDER - s
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:  # the library signs PS256 (PSS, SHA-256)
        signature = _MODELS[alg].sign(signing_input.encode("ascii"), signer)
    return f"{signing_input}.{b64url_encode(signature)}"


def segment(value: Mapping[str, Any]) -> str:
    """A header or payload as its compact JWS segment (compact JSON, base64url)."""
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def verify(signing_input: bytes, signature: bytes, alg: str, key: JoseKey | PublicKey) -> bool:
    """True when ``signature`` is a valid ``alg`` signature of ``signing_input`` by ``key``."""
    if alg not in SUPPORTED_ALGS:
        return False
    model = _MODELS[alg]
    jkey = key if isinstance(key, ECKey | RSAKey) else jose_key(key)
    try:
        model.check_key(jkey)  # the key's type (and curve) is the one alg is pinned to
    except JoseError:
        return False
    if alg != "ES256":
        return bool(model.verify(signing_input, signature, jkey))
    if not isinstance(jkey, ECKey) or len(signature) != 64:  # P-256: r and s of 32 bytes each
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        jkey.get_op_key("verify").verify(der, signing_input, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True
