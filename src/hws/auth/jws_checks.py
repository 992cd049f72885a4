"""What we accept of a compact JWS, as named checks, before the library verifies it.

Compact serialization only; base64url without padding and canonical; header and
payload JSON objects without duplicate members or non-JSON constants (NaN, Infinity);
ES256 signatures exactly 64 bytes (raw r‖s, RFC 7518 §3.4), in range and low-S; PS256
signatures as long as the key's modulus. Used for client assertions and our own access
tokens; the signature itself is checked by :func:`hws.keys.jose.verify`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from hws.keys import jose
from hws.keys.jose import P256_HALF_ORDER, P256_ORDER, SUPPORTED_ALGS, JoseKey
from hws.keys.public_keys import PublicKey, b64url_decode

__all__ = ["SUPPORTED_ALGS", "CompactJWS", "MalformedJWS", "is_high_s", "parse_compact", "verify"]


class MalformedJWS(ValueError):
    """Not a compact JWS we accept; the message says what is wrong (for logs)."""


@dataclass(frozen=True)
class CompactJWS:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    def claims(self) -> dict[str, Any]:
        return json_object(self.payload, "payload")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # a member repeated: name the first repeat
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedJWS(f"duplicate member {key!r}")
            seen.add(key)
    return result


def _no_constants(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259 §6); Python's
    parser takes them unless told not to."""
    raise MalformedJWS(f"{name} is not a JSON value")


#: one decoder for every header and payload (``json.loads`` with these arguments builds
#: a new one per call)
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """Check: UTF-8 JSON, an object, no duplicate member, no NaN/Infinity."""
    try:
        value = _DECODER.decode(data.decode("utf-8"))  # a BOM is no JSON value: refused too
    except MalformedJWS:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedJWS(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedJWS(f"{what} is not a JSON object")
    return value


def compact_parts(token: str, *, max_bytes: int) -> tuple[str, str, str]:
    """Check: bounded size, ASCII, three parts (no JWE, no JSON serialization)."""
    if not token:
        raise MalformedJWS("empty")
    if len(token) > max_bytes:
        raise MalformedJWS(f"longer than {max_bytes} bytes")
    if not token.isascii():
        raise MalformedJWS("not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJWS(f"{len(parts)} parts instead of 3 (JWE and JSON serialization are not accepted)")
    return parts[0], parts[1], parts[2]


def parse_compact(token: str, *, max_bytes: int) -> CompactJWS:
    """Split and decode a compact JWS under the checks above; verifies nothing."""
    header_b64, payload_b64, signature_b64 = compact_parts(token, max_bytes=max_bytes)
    try:
        header_raw, payload, signature = (b64url_decode(p) for p in (header_b64, payload_b64, signature_b64))
    except ValueError:
        raise MalformedJWS("a part is not base64url") from None
    header = json_object(header_raw, "header")
    return CompactJWS(header, payload, f"{header_b64}.{payload_b64}".encode("ascii"), signature)


def is_high_s(signature: bytes) -> bool:
    """An ES256 signature whose ``s`` is above n/2 (its twin ``(r, n − s)`` also verifies)."""
    return len(signature) == 64 and int.from_bytes(signature[32:], "big") > P256_HALF_ORDER


def signature_shape_ok(signature: bytes, alg: str, key: JoseKey | PublicKey, *, accept_high_s: bool = False) -> bool:
    """Check: ES256 is 64 bytes with 0 < r, s < n and low-S (unless ``accept_high_s``);
    PS256 is as long as the key's modulus."""
    if alg == "ES256":
        if len(signature) != 64:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        return 0 < r < P256_ORDER and 0 < s < P256_ORDER and (accept_high_s or s <= P256_HALF_ORDER)
    if alg == "PS256":
        public = key.public_key if isinstance(key, jose.JoseKey) else key
        return isinstance(public, rsa.RSAPublicKey) and len(signature) == (public.key_size + 7) // 8
    return False


def verify(jws: CompactJWS, alg: str, key: JoseKey | PublicKey, *, accept_high_s: bool = False) -> bool:
    """True when ``jws`` carries a valid ``alg`` signature by ``key`` of the accepted shape."""
    return signature_shape_ok(jws.signature, alg, key, accept_high_s=accept_high_s) and jose.verify(
        jws.signing_input, jws.signature, alg, key
    )
