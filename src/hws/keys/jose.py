"""Compact JWS signing and verification (RFC 7515), ES256 and PS256 only, on joserfc.

The library signs and verifies. What we accept of a token before it is verified (its
compact form, its JSON members, the signature's shape, low-S) is ours, as named checks
in :mod:`hws.auth.jws_checks`. We sign ES256 low-S, so a strict verifier takes ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
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
    # the library signs: ES256 as raw r‖s (RFC 7518 §3.4), PS256 with PSS and SHA-256
    signature = _MODELS[alg].sign(signing_input.encode("ascii"), signer)
    if alg == "ES256":
        signature = _low_s(signature)
    return f"{signing_input}.{b64url_encode(signature)}"


def segment(value: Mapping[str, Any]) -> str:
    """A header or payload as its compact JWS segment (compact JSON, base64url)."""
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _low_s(signature: bytes) -> bytes:
    """The same ES256 signature in its low-S form (r, n − s) when s > n/2."""
    s = int.from_bytes(signature[32:], "big")
    return signature if s <= P256_HALF_ORDER else signature[:32] + (P256_ORDER - s).to_bytes(32, "big")


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
    return bool(model.verify(signing_input, signature, jkey))
