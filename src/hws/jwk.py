"""Public keys as JSON Web Keys (RFC 7517/7518) and their thumbprints (RFC 7638)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2); raises ``ValueError``."""
    if not data or "=" in data:
        if data == "":
            return b""
        raise ValueError("padding is not allowed in base64url")
    raw = data.encode("ascii")
    decoded = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    if b64url_encode(decoded) != data:  # non-canonical trailing bits
        raise ValueError("non-canonical base64url")
    return decoded


def _int_bytes(value: int, length: int | None = None) -> bytes:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The minimal public JWK of ``key`` (members in RFC 7638 order)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("only P-256 elliptic-curve keys are supported")
        numbers = key.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url_encode(_int_bytes(numbers.x, 32)),
            "y": b64url_encode(_int_bytes(numbers.y, 32)),
        }
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"e": b64url_encode(_int_bytes(numbers.e)), "kty": "RSA", "n": b64url_encode(_int_bytes(numbers.n))}
    raise ValueError(f"unsupported key type {type(key).__name__}")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url."""
    if jwk["kty"] == "EC":
        members = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    elif jwk["kty"] == "RSA":
        members = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    else:
        raise ValueError(f"unsupported kty {jwk['kty']!r}")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    if jwk.get("kty") == "RSA":
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    raise ValueError("unsupported JWK")


def alg_for_key(key: PublicKey) -> str:
    """The one JWS algorithm a key is pinned to: ES256 for P-256, PS256 for RSA."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("elliptic-curve keys must be on P-256 (prime256v1) for ES256")
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"RSA keys must have at least 2048 bits for PS256, got {key.key_size}")
        return "PS256"
    raise ValueError(f"unsupported key type {type(key).__name__}: use ES256 (P-256) or PS256 (RSA >= 2048)")
