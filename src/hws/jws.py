"""Compact JWS (RFC 7515) with the two algorithms HWS allows: ES256 and PS256.

Deliberately small and strict: compact serialization only, base64url without padding,
JSON objects without duplicate members, ES256 signatures exactly 64 bytes (raw r‖s,
RFC 7518 §3.4). Key selection and claim checks belong to the callers.
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


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
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


def verify(jws: CompactJWS, alg: str, key: PublicKey) -> bool:
    """True when ``jws`` carries a valid ``alg`` signature by ``key``."""
    try:
        if alg == "ES256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(jws.signature) != 64:
                return False
            r = int.from_bytes(jws.signature[:32], "big")
            s = int.from_bytes(jws.signature[32:], "big")
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
