"""Public keys as JSON Web Keys (RFC 7517/7518), their thumbprints (RFC 7638) and the
one JWS algorithm each key is pinned to, on joserfc's key classes."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jwk import thumbprint as _thumbprint

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
#: a key in the library's form: parse a JWK once with :func:`verification_key` and reuse it
JoseKey = ECKey | RSAKey
#: the members of a public JWK that identify the key (RFC 7638 §3.2)
_REQUIRED = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2); raises ``ValueError`` on padding,
    characters outside the alphabet, or non-canonical trailing bits."""
    if data == "":
        return b""
    if "=" in data:
        raise ValueError("padding is not allowed in base64url")
    raw = data.encode("ascii")
    decoded = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    if b64url_encode(decoded) != data:  # other characters dropped, or non-canonical bits
        raise ValueError("non-canonical base64url")
    return decoded


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The minimal public JWK of ``key``, members in RFC 7638 (lexicographic) order."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("only P-256 elliptic-curve keys are supported")
        members = ECKey.import_key(key).as_dict(private=False)
    elif isinstance(key, rsa.RSAPublicKey):
        members = RSAKey.import_key(key).as_dict(private=False)
    else:
        raise ValueError(f"unsupported key type {type(key).__name__}")
    kty = str(members["kty"])
    return {name: str(members[name]) for name in _REQUIRED[kty]}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK, base64url."""
    kty = jwk.get("kty")
    if kty not in _REQUIRED:
        raise ValueError(f"unsupported kty {kty!r}")
    return _thumbprint({name: jwk[name] for name in _REQUIRED[kty]})


def verification_key(jwk: Mapping[str, Any]) -> JoseKey:
    """A P-256 or RSA public JWK in the library's form, parsed once for many verifications;
    ``ValueError`` for anything else."""
    kty = jwk.get("kty")
    if not (kty == "RSA" or (kty == "EC" and jwk.get("crv") == "P-256")):
        raise ValueError("unsupported JWK")
    try:
        members = {name: jwk[name] for name in _REQUIRED[str(kty)]}
        return ECKey.import_key(members) if kty == "EC" else RSAKey.import_key(members)
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"unusable JWK ({exc})") from None


def key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """The public key a P-256 or RSA JWK describes; ``ValueError`` for anything else."""
    return verification_key(jwk).public_key


def alg_for_key(key: object) -> str:
    """The one JWS algorithm a key is pinned to: ES256 for P-256, PS256 for RSA ≥ 2048."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("elliptic-curve keys must be on P-256 (prime256v1) for ES256")
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"RSA keys must have at least 2048 bits for PS256, got {key.key_size}")
        return "PS256"
    raise ValueError(f"unsupported key type {type(key).__name__}: use ES256 (P-256) or PS256 (RSA >= 2048)")
