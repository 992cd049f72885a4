"""Compact JWS (RFC 7515) with the two algorithms HWS allows: ES256 and PS256.

Deliberately small and strict: compact serialization only, base64url without padding,
JSON objects without duplicate members or non-JSON constants (NaN, Infinity), ES256
signatures exactly 64 bytes (raw r‖s, RFC 7518 §3.4) and low-S (we sign low-S too). Key selection and claim checks belong to the callers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from hws.jwk import PublicKey, b64url_decode, b64url_encode

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
SUPPORTED_ALGS = ("ES256", "PS256")

#: the order n of P-256's base point (SEC 2, FIPS 186-4 D.1.2.3). An ECDSA signature
#: (r, s) verifies exactly when (r, n − s) does; only the low-S one (s ≤ n/2) is
#: accepted, so a signature cannot be malleated into a second valid one.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_ORDER = P256_ORDER // 2


class MalformedJWS(ValueError):
    """Not a compact JWS we accept; the message says what is wrong (for logs)."""


@dataclass(frozen=True)
class CompactJWS:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    def claims(self) -> dict[str, Any]:
        value = _json_object(self.payload, "payload")
        return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedJWS(f"duplicate member {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259 §6); Python's
    parser takes them unless told not to."""
    raise MalformedJWS(f"{name} is not a JSON value")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except MalformedJWS:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedJWS(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedJWS(f"{what} is not a JSON object")
    return value


def parse_compact(token: str, *, max_bytes: int) -> CompactJWS:
    """Split and decode a compact JWS; verifies nothing."""
    if not token:
        raise MalformedJWS("empty")
    if len(token) > max_bytes:
        raise MalformedJWS(f"longer than {max_bytes} bytes")
    if not token.isascii():
        raise MalformedJWS("not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJWS(f"{len(parts)} parts instead of 3 (JWE and JSON serialization are not accepted)")
    try:
        header_raw, payload, signature = (b64url_decode(p) for p in parts)
    except ValueError:
        raise MalformedJWS("a part is not base64url") from None
    header = _json_object(header_raw, "header")
    return CompactJWS(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def is_high_s(signature: bytes) -> bool:
    """An ES256 signature whose ``s`` is above n/2 (its twin ``(r, n − s)`` also verifies)."""
    return len(signature) == 64 and int.from_bytes(signature[32:], "big") > P256_HALF_ORDER


def verify(jws: CompactJWS, alg: str, key: PublicKey, *, accept_high_s: bool = False) -> bool:
    """True when ``jws`` carries a valid ``alg`` signature by ``key`` (ES256: low-S only,
    unless ``accept_high_s``)."""
    try:
        if alg == "ES256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(jws.signature) != 64:
                return False
            r = int.from_bytes(jws.signature[:32], "big")
            s = int.from_bytes(jws.signature[32:], "big")
            if not (0 < r < P256_ORDER and 0 < s < P256_ORDER) or (s > P256_HALF_ORDER and not accept_high_s):
                return False  # out of range, or high-S: (r, n − s) is the same signature malleated
            key.verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(hashes.SHA256()))
            return True
        if alg == "PS256":
            if not isinstance(key, rsa.RSAPublicKey) or len(jws.signature) != (key.key_size + 7) // 8:
                return False
            key.verify(
                jws.signature,
                jws.signing_input,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size),
                hashes.SHA256(),
            )
            return True
    except InvalidSignature:
        return False
    return False


def sign(header: dict[str, Any], claims: dict[str, Any], key: PrivateKey) -> str:
    """Produce a compact JWS; ``header['alg']`` must match the key (ES256 or PS256)."""
    alg = header.get("alg")
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    p = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{h}.{p}".encode("ascii")
    if alg == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        s = min(s, P256_ORDER - s)  # low-S: the one of the pair verifiers accept
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "PS256" and isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(
            signing_input,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size),
            hashes.SHA256(),
        )
    else:
        raise ValueError(f"cannot sign {alg!r} with a {type(key).__name__}")
    return f"{h}.{p}.{b64url_encode(signature)}"
