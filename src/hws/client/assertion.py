"""Client assertions an office signs to obtain a token (RFC 7523 §2.2)."""

from __future__ import annotations

import secrets
import time

from cryptography.hazmat.primitives.asymmetric import ec

from hws.keys.jose import sign
from hws.keys.public_keys import PrivateKey, public_jwk, thumbprint

DEFAULT_LIFETIME = 60


def sign_client_assertion(
    key: PrivateKey,
    *,
    client_id: str,
    audience: str,
    lifetime: int = DEFAULT_LIFETIME,
    now: float | None = None,
) -> str:
    """A fresh assertion: ES256 (64-byte raw r‖s) or PS256, new ``jti`` every time."""
    issued = int(time.time() if now is None else now)
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "PS256"
    header = {"alg": alg, "typ": "JWT", "kid": thumbprint(public_jwk(key.public_key()))}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(18),
    }
    return sign(header, claims, key)
