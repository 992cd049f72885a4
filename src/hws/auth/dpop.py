"""DPoP proofs (RFC 9449): what binds an access token to a key its client holds.

A proof is a JWS the client signs for one HTTP request, with its public key in the
header. :func:`check_proof` runs the checks of RFC 9449 §4.3 as named steps, in an order
where nothing of the proof is trusted before its signature is verified by the key it
carries; single use of its ``jti`` is the caller's atomic store (the same as a client
assertion's, :mod:`hws.store.assertion_uses`), keyed by the key's thumbprint and the
``jti`` — never by the signature, which a third party can change.

Nonces (§8, §9) are stateless: the current window's number and a MAC of it under a
secret derived from the service's signing key, so every process of the service issues
and accepts the same nonces without sharing state; the previous window's nonce is still
accepted, so a client that has just been given one is not refused at a rotation.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hws.auth import jws_checks as jws
from hws.auth.keyring import Keyring
from hws.keys.public_keys import JoseKey, b64url_decode, b64url_encode, thumbprint, verification_key

DPOP_TYP = "dpop+jwt"
#: the algorithms a proof may be signed with, as the discovery document advertises them
DPOP_ALGS: tuple[str, ...] = jws.SUPPORTED_ALGS
MAX_PROOF_BYTES = 8192
MAX_JTI_LENGTH = 256
#: members of a JWK that only a private key has (RFC 7518 §6.2.2, §6.3.2; ``k``: symmetric)
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DPoPError(Exception):
    """A proof we do not accept. ``error`` is RFC 9449's code (``invalid_dpop_proof`` or
    ``use_dpop_nonce``); ``reason`` is the precise cause, for logs and the client."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


def invalid_proof(reason: str) -> DPoPError:
    return DPoPError("invalid_dpop_proof", reason)


@dataclass(frozen=True)
class Proof:
    """A verified proof: the thumbprint of the key that signed it (``cnf.jkt`` of the
    token it binds) and its single-use key, remembered until ``replay_until``."""

    jkt: str
    jti: str
    iat: int
    replay_key: str
    replay_until: int


@dataclass(frozen=True)
class ProofPolicy:
    max_age: int  # seconds iat may lie in the past
    leeway: int  # seconds iat may lie in the future (clock skew)


def canonical_uri(uri: str) -> str:
    """``uri`` without query and fragment, scheme and host in lower case, the scheme's
    default port dropped, an empty path as ``/`` (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2-3)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise invalid_proof("htu is not a URI") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if not scheme or not host:
        raise invalid_proof("htu is not an absolute http(s) URI")
    if ":" in host:
        host = f"[{host}]"
    authority = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{authority}{parts.path or '/'}"


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII bytes (§4.2)."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


# The steps of RFC 9449 §4.3, in order --------------------------------------------------


def one_proof(values: Sequence[str]) -> str:
    """Step 1: exactly one ``DPoP`` header field."""
    if not values:
        raise invalid_proof("no DPoP proof")
    if len(values) > 1:
        raise invalid_proof("more than one DPoP header")
    return values[0]


def parse(value: str) -> tuple[jws.CompactJWS, dict[str, Any]]:
    """Steps 2-3: a well-formed compact JWS whose payload is a JSON object (and that object)."""
    try:
        proof = jws.parse_compact(value.strip(), max_bytes=MAX_PROOF_BYTES)
        return proof, proof.claims()
    except jws.MalformedJWS as exc:
        raise invalid_proof(f"malformed DPoP proof: {exc}") from None


def check_header(header: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Steps 4-7: ``typ`` ``dpop+jwt``, an asymmetric algorithm we support, no critical
    extensions, and a public key in ``jwk`` (no private member). Returns (alg, jwk)."""
    if header.get("typ") != DPOP_TYP:
        raise invalid_proof(f"DPoP proof typ must be {DPOP_TYP!r}, got {header.get('typ')!r}")
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise invalid_proof(f"DPoP proof alg {alg!r} is not one of {' '.join(DPOP_ALGS)}")
    if "crit" in header or "b64" in header:
        raise invalid_proof("DPoP proof header has critical extensions")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise invalid_proof("DPoP proof header has no jwk")
    if PRIVATE_MEMBERS & jwk.keys():
        raise invalid_proof("DPoP proof jwk contains a private key")
    return str(alg), jwk


#: the JWK members that make a P-256 or RSA public key (RFC 7638 §3.2); the others are ignored
_KEY_MEMBERS = frozenset({"kty", "crv", "x", "y", "e", "n"})


@functools.lru_cache(maxsize=4096)
def _public_key(members: tuple[tuple[str, str], ...]) -> tuple[JoseKey, str]:
    """A proof key in the library's form and its thumbprint, made once per key: a client
    signs every proof with the same key, and importing it costs as much as verifying."""
    jwk = dict(members)
    return verification_key(jwk), thumbprint(jwk)


def check_signature(proof: jws.CompactJWS, alg: str, jwk: Mapping[str, Any]) -> str:
    """Step 8: the key in ``jwk`` (of ``alg``'s type) signed the proof. Returns the key's
    RFC 7638 thumbprint. High-S ES256 signatures are accepted: a proof's single use is
    keyed by its key and ``jti``, not by its signature."""
    members = tuple(sorted((name, value) for name, value in jwk.items() if name in _KEY_MEMBERS))
    if not all(isinstance(value, str) for _, value in members):
        raise invalid_proof("DPoP proof jwk is not a usable P-256 or RSA public key")
    try:
        key, jkt = _public_key(members)
    except (ValueError, KeyError, TypeError):
        raise invalid_proof("DPoP proof jwk is not a usable P-256 or RSA public key") from None
    if not jws.verify(proof, alg, key, accept_high_s=True):
        raise invalid_proof("DPoP proof signature does not verify with its jwk")
    return jkt


def check_request(claims: Mapping[str, Any], method: str, uri: str) -> None:
    """Steps 9-10: ``htm`` is the request's method, ``htu`` its URI (query and fragment
    ignored, RFC 3986 normalisation of scheme, host and port)."""
    htm, htu = claims.get("htm"), claims.get("htu")
    if htm != method:
        raise invalid_proof(f"DPoP proof htm {htm!r} is not this request's method {method}")
    if not isinstance(htu, str) or canonical_uri(htu) != canonical_uri(uri):
        raise invalid_proof(f"DPoP proof htu {htu!r} is not this request's URI {canonical_uri(uri)}")


def check_jti(claims: Mapping[str, Any]) -> str:
    """Step 11 (part): a ``jti`` string of 1-256 characters (single use: the caller)."""
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise invalid_proof("DPoP proof jti must be a string of 1-256 characters")
    return jti


def check_iat(claims: Mapping[str, Any], now: float, policy: ProofPolicy) -> int:
    """Step 11: ``iat`` within the accepted window: at most ``max_age`` seconds old and
    at most ``leeway`` seconds ahead."""
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise invalid_proof("DPoP proof iat must be a NumericDate")
    if iat < now - policy.max_age:
        raise invalid_proof(f"DPoP proof iat is {now - iat:.0f} s old (at most {policy.max_age} s)")
    if iat > now + policy.leeway:
        raise invalid_proof(f"DPoP proof iat is {iat - now:.0f} s in the future (at most {policy.leeway} s)")
    return int(iat)


def check_ath(claims: Mapping[str, Any], access_token: str) -> None:
    """Step 12, at a protected resource: ``ath`` is the hash of the access token sent with it."""
    ath = claims.get("ath")
    if not isinstance(ath, str) or not hmac.compare_digest(ath.encode(), access_token_hash(access_token).encode()):
        raise invalid_proof("DPoP proof ath does not match the access token")


class Nonces:
    """The server's DPoP nonces: ``current(now)`` to hand out, ``accepts`` to check one.

    A nonce is the number of the ``lifetime``-second window it was made in and a MAC of
    it under ``secrets[0]`` (the service key's); a nonce of the previous window, or made
    under another still-published key (``secrets[1:]``, during a key rotation), is accepted.
    """

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime

    @staticmethod
    def _make(secret: bytes, window: int) -> str:
        stamp = window.to_bytes(8, "big")
        return b64url_encode(stamp + hmac.new(secret, b"dpop-nonce\x00" + stamp, hashlib.sha256).digest()[:18])

    def current(self, secret: bytes, now: float) -> str:
        return self._make(secret, int(now // self.lifetime))

    def accepts(self, nonce: object, secrets: Sequence[bytes], now: float) -> bool:
        if not isinstance(nonce, str) or len(nonce) != 35:
            return False
        try:
            window = int.from_bytes(b64url_decode(nonce)[:8], "big")
        except ValueError:
            return False
        if window not in (int(now // self.lifetime), int(now // self.lifetime) - 1):
            return False
        return any(hmac.compare_digest(nonce, self._make(secret, window)) for secret in secrets)


def check_proof(
    values: Sequence[str],
    *,
    method: str,
    uri: str,
    now: float,
    policy: ProofPolicy,
    access_token: str | None = None,
    nonce_ok: Callable[[object], bool] | None = None,
) -> Proof:
    """Every step of RFC 9449 §4.3 but single use; raise :class:`DPoPError`.

    ``nonce_ok``: called with the proof's ``nonce`` claim when nonces are required
    (``None``: not required); ``False`` → ``use_dpop_nonce``. ``access_token``: the
    token presented with the proof at a protected resource (``ath`` is then required)."""
    proof, claims = parse(one_proof(values))
    alg, jwk = check_header(proof.header)
    jkt = check_signature(proof, alg, jwk)
    jti = check_jti(claims)
    check_request(claims, method, uri)
    iat = check_iat(claims, now, policy)
    if access_token is not None:
        check_ath(claims, access_token)
    if nonce_ok is not None and not nonce_ok(claims.get("nonce")):
        raise DPoPError("use_dpop_nonce", "a DPoP proof must carry the server's current nonce (see the DPoP-Nonce header)")
    key = hashlib.sha256(b"dpop\x00" + jkt.encode() + b"\x00" + jti.encode()).hexdigest()
    return Proof(jkt=jkt, jti=jti, iat=iat, replay_key=key, replay_until=iat + policy.max_age + policy.leeway + 1)


class ProofVerifier:
    """The service's DPoP checks: its proof policy, and its nonces when they are required."""

    def __init__(self, keyring: Keyring, policy: ProofPolicy, nonces: Nonces | None) -> None:
        self._keyring = keyring
        self.policy = policy
        self._nonces = nonces

    def nonce(self, now: float) -> str | None:
        """The nonce to hand out now (``DPoP-Nonce``), or ``None`` when nonces are off."""
        return self._nonces.current(self._keyring.active.nonce_secret, now) if self._nonces else None

    def _nonce_ok(self, now: float) -> Callable[[object], bool] | None:
        nonces = self._nonces
        if nonces is None:
            return None
        return lambda nonce: nonces.accepts(nonce, [key.nonce_secret for key in self._keyring.published()], now)

    def verify(self, values: Sequence[str], *, method: str, uri: str, now: float, access_token: str | None = None) -> Proof:
        return check_proof(
            values, method=method, uri=uri, now=now, policy=self.policy, access_token=access_token, nonce_ok=self._nonce_ok(now)
        )
