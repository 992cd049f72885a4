"""Build client assertions the way an attacker or a buggy client might."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from hws.keys.jose import P256_ORDER
from hws.keys.public_keys import b64url_decode, b64url_encode

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def segment(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64url_encode(raw)


def raw_sign(signing_input: bytes, key: Any, alg: str) -> bytes:
    if alg == "ES256":  # low-S, as a careful client signs (the server refuses high-S)
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + min(s, P256_ORDER - s).to_bytes(32, "big")
    if alg == "PS256":
        return key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    if alg == "RS256":
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if alg == "HS256":
        return hmac.new(key, signing_input, hashlib.sha256).digest()
    if alg == "none":
        return b""
    raise ValueError(alg)


def malleate(assertion: str) -> str:
    """The same header.payload with the ES256 signature ``r‖(n − s)``: it verifies too."""
    h, p, sig = assertion.split(".")
    raw = b64url_decode(sig)
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    return f"{h}.{p}.{b64url_encode(r + (P256_ORDER - s).to_bytes(32, 'big'))}"


def craft(header: dict[str, Any], claims: dict[str, Any] | bytes, key: Any, *, alg: str | None = None) -> str:
    h, p = segment(header), segment(claims)
    signature = raw_sign(f"{h}.{p}".encode(), key, alg or header.get("alg", "ES256"))
    return f"{h}.{p}.{b64url_encode(signature)}"


def claims_for(client_id: str, audience: str, *, lifetime: int = 60, now: float | None = None, **extra: Any) -> dict[str, Any]:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_hex(8),
    }
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def form(assertion: str, **extra: str) -> dict[str, str]:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
    }
    data.update(extra)
    return data


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
