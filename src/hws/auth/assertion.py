"""Client authentication by ``private_key_jwt`` (RFC 7523 §2.2/§3, RFC 7521 §4.2).

One small function per rule of ``checklists/auth.md``; :func:`authenticate` runs them
in an order where nothing from the assertion is trusted before its signature is
verified: the unverified ``iss``/``sub`` only choose which registered keys to try.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hws.auth import jws_checks as jws
from hws.auth.client_lookup import ClientSnapshot
from hws.auth.errors import OAuthError, invalid_client, invalid_request
from hws.auth.source_address import IPAddress
from hws.config import AudiencePolicy
from hws.keys.jose import JoseKey, verification_key
from hws.store.clients import Client, ClientKey

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ACCEPTED_TYP = frozenset({"jwt", "application/jwt", "client-authentication+jwt", "application/client-authentication+jwt"})
MAX_JTI_LENGTH = 256


@dataclass(frozen=True)
class AssertionPolicy:
    issuer: str
    token_endpoint: str
    audience: AudiencePolicy
    leeway: int
    max_lifetime: int
    max_bytes: int
    #: accept ES256 signatures with s > n/2 (rule 16 refuses them; WIPO's Appendix C
    #: snippet, signing with openssl, makes one every other run)
    accept_high_s: bool = False


@dataclass(frozen=True)
class TokenRequest:
    assertion: str
    scope: str | None


@dataclass(frozen=True)
class Authenticated:
    client: Client
    key: ClientKey
    claims: dict[str, Any]
    replay_key: str
    replay_until: int


# Rule 1 — the request itself ----------------------------------------------------------


def check_request(form: Mapping[str, Sequence[str]], authorization: str | None) -> TokenRequest:
    """Rule 1: one grant, one authentication method, the jwt-bearer assertion type."""
    for name, values in form.items():
        if len(values) > 1:
            raise invalid_request(f"parameter {name!r} is repeated")
    value = {name: values[0] for name, values in form.items() if values}
    grant_type = value.get("grant_type")
    if not grant_type:
        raise invalid_request("grant_type is required")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only grant_type=client_credentials is supported")
    if authorization:
        raise invalid_request("use exactly one client authentication method (client_assertion, not an Authorization header)")
    if "client_secret" in value:
        raise invalid_request("use exactly one client authentication method (client_assertion, not client_secret)")
    assertion_type = value.get("client_assertion_type")
    assertion = value.get("client_assertion")
    if assertion_type is None or assertion is None:
        raise invalid_client("no client assertion", "client authentication by private_key_jwt is required")
    if assertion_type != JWT_BEARER:
        raise invalid_request(f"client_assertion_type must be {JWT_BEARER}")
    return TokenRequest(assertion=assertion, scope=value.get("scope"))


def check_client_id_parameter(form: Mapping[str, Sequence[str]], claims: Mapping[str, Any]) -> None:
    """Rule 1: a ``client_id`` parameter, if sent, names the assertion's subject."""
    values = form.get("client_id")
    if values and values[0] != claims.get("sub"):
        raise invalid_request("client_id does not match the client assertion's sub")


# Rules 2, 3, 5, 11 — the JWS and its header --------------------------------------------


def parse(assertion: str, max_bytes: int) -> tuple[jws.CompactJWS, dict[str, Any]]:
    """Rule 2: a compact JWS of bounded size whose payload is a JSON object."""
    try:
        token = jws.parse_compact(assertion, max_bytes=max_bytes)
        return token, token.claims()
    except jws.MalformedJWS as exc:
        raise invalid_client(f"malformed assertion: {exc}") from None


def check_alg(header: Mapping[str, Any]) -> str:
    """Rule 3: ES256 or PS256 only (never none, HS*, RS*)."""
    alg = header.get("alg")
    if alg not in jws.SUPPORTED_ALGS:
        raise invalid_client(f"assertion alg {alg!r} is not allowed")
    return str(alg)


def check_crit(header: Mapping[str, Any]) -> None:
    """Rule 5: no JWS extension is understood, so any ``crit`` is refused."""
    if "crit" in header or "b64" in header:
        raise invalid_client("assertion header has critical extensions")


def check_typ(header: Mapping[str, Any]) -> None:
    """Rule 11: ``typ`` absent, ``JWT`` or ``client-authentication+jwt``."""
    if "typ" not in header:
        return
    typ = header["typ"]
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP:
        raise invalid_client(f"assertion typ {typ!r} is not accepted")


# Rule 6 — who claims to be speaking -----------------------------------------------------


def claimed_client_id(claims: Mapping[str, Any]) -> str:
    """Rule 6 (unverified part): ``iss`` and ``sub`` both present and equal."""
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise invalid_client("assertion has no sub")
    if not isinstance(iss, str) or iss != sub:
        raise invalid_client("assertion iss differs from sub")
    return sub


def check_client(client: Client | None, client_id: str, now: datetime) -> Client:
    """Rule 6: the client exists, is active and within its validity period."""
    if client is None:
        raise invalid_client(f"unknown client {client_id!r}")
    if not client.active:
        raise invalid_client(f"client {client_id!r} is disabled")
    if not client.in_validity_period(now):
        raise invalid_client(f"client {client_id!r} is outside its validity period")
    return client


# Rule 12 — where the request comes from ---------------------------------------------------


def check_source(client: Client, address: IPAddress | None) -> None:
    """Rule 12: the source address is on the client's allow-list."""
    if address is None or not client.allows_address(address):
        raise invalid_client(f"source address {address} is not allowed for client {client.client_id!r}")


# Rules 4, 5 — which key signed it ---------------------------------------------------------


def verify_signature(
    token: jws.CompactJWS,
    alg: str,
    keys: Sequence[ClientKey],
    now: datetime,
    public_key: Callable[[ClientKey], JoseKey] = lambda key: verification_key(key.public_jwk),
    *,
    accept_high_s: bool = False,
) -> ClientKey:
    """Rules 4/5: a registered, currently valid key of the pinned alg verifies the JWS.

    ``jwk``/``jku``/``x5u``/``x5c`` header members are ignored: only registered keys count
    (``public_key`` gives a registered key's parsed form, possibly parsed earlier).
    """
    candidates = [k for k in keys if k.alg == alg]
    kid = token.header.get("kid")
    if kid is not None:
        candidates = [k for k in candidates if isinstance(kid, str) and hmac.compare_digest(k.kid, kid)]
    if not candidates:
        raise invalid_client(f"no registered {alg} key matches (kid {kid!r})")
    valid = [k for k in candidates if k.valid_at(now)]
    if not valid:
        raise invalid_client("the matching key's certificate is expired or not yet valid")
    if alg == "ES256" and not accept_high_s and jws.is_high_s(token.signature):
        raise invalid_client(
            "assertion ES256 signature is high-S",
            "the ES256 signature's s is above n/2: send its low-S form (r, n - s), as the hws office kit "
            "always does, or sign again",
        )
    for key in valid:
        if jws.verify(token, alg, public_key(key), accept_high_s=accept_high_s):
            return key
    raise invalid_client("assertion signature does not verify with any registered key")


# Rules 7, 8, 9 — the claims, now trusted -------------------------------------------------


def check_audience(claims: Mapping[str, Any], policy: AssertionPolicy) -> None:
    """Rule 7: exact string comparison against the issuer (or the token endpoint in
    compatibility mode); arrays only in compatibility mode and only of accepted values."""
    accepted = {policy.issuer}
    if policy.audience is AudiencePolicy.COMPAT:
        accepted.add(policy.token_endpoint)
    aud = claims.get("aud")
    if isinstance(aud, str):
        if aud not in accepted:
            raise invalid_client(f"assertion aud {aud!r} is not this server")
        return
    if isinstance(aud, list) and policy.audience is AudiencePolicy.COMPAT and aud:
        if all(isinstance(a, str) and a in accepted for a in aud):
            return
        raise invalid_client(f"assertion aud {aud!r} names another party")
    raise invalid_client(f"assertion aud must be a single string, got {aud!r}")


#: the last second of year 9999 (RFC 7519 NumericDate, bounded like RFC 3339 years):
#: a time after it is not a time any client means, and stays clear of float and
#: database integer limits
LATEST_NUMERIC_DATE = 253_402_300_799


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    """Rule 17: a NumericDate is a finite JSON number from 0 to :data:`LATEST_NUMERIC_DATE`
    (``NaN``/``Infinity`` never reach here: the JSON parser refuses them)."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_client(f"assertion {name} is not a number", f"the client assertion's {name} must be a NumericDate")
    if not (0 <= value <= LATEST_NUMERIC_DATE):  # False for NaN too
        raise invalid_client(
            f"assertion {name} {value!r} is out of range",
            f"the client assertion's {name} must be seconds since 1970 before the year 10000",
        )
    return float(value)


def check_times(claims: Mapping[str, Any], now: float, policy: AssertionPolicy) -> float:
    """Rules 8/9: ``exp`` required and not passed, lifetime capped, ``iat``/``nbf`` not
    too far in the future. Returns ``exp``."""
    exp = _number(claims, "exp")
    iat = _number(claims, "iat")
    nbf = _number(claims, "nbf")
    if exp is None:
        raise invalid_client("assertion has no exp", "the client assertion must carry exp")
    if exp + policy.leeway < now:
        raise invalid_client(f"assertion expired at {exp:.0f}", "the client assertion has expired")
    start = iat if iat is not None else now
    if exp - start > policy.max_lifetime:
        raise invalid_client(
            f"assertion lifetime {exp - start:.0f}s exceeds {policy.max_lifetime}s",
            f"the client assertion's lifetime must not exceed {policy.max_lifetime} seconds",
        )
    for name, value in (("iat", iat), ("nbf", nbf)):
        if value is not None and value > now + policy.leeway:
            raise invalid_client(f"assertion {name} is {value - now:.0f}s in the future", "the client assertion is not yet valid")
    return exp


# Rule 10 — single use ------------------------------------------------------------------


def replay_key(client_id: str, claims: Mapping[str, Any], signing_input: bytes) -> str:
    """The single-use key (rule 16): the client's ``jti``, or without one the hash of what
    the client signed (header.payload) — never the signature bytes, which a third party
    can change into another valid signature of the same content. A ``jti`` member, if
    present, is a string (RFC 7519 §4.1.7): ``null`` is not taken for an absent one."""
    if "jti" not in claims:
        material = b"jws\x00" + signing_input
    elif isinstance(jti := claims["jti"], str) and 0 < len(jti) <= MAX_JTI_LENGTH:
        material = b"jti\x00" + client_id.encode() + b"\x00" + jti.encode()
    else:
        raise invalid_client("assertion jti is not a string of 1-256 characters")
    return hashlib.sha256(material).hexdigest()


# All together ------------------------------------------------------------------------------


def authenticate(
    request: TokenRequest,
    form: Mapping[str, Sequence[str]],
    *,
    policy: AssertionPolicy,
    lookup: Callable[[str], ClientSnapshot | None],
    address: IPAddress | None,
    now: datetime,
) -> Authenticated:
    """Run rules 2-9 (rule 10 is the caller's atomic store); raise :class:`OAuthError`."""
    token, claims = parse(request.assertion, policy.max_bytes)
    check_client_id_parameter(form, claims)
    alg = check_alg(token.header)
    check_crit(token.header)
    check_typ(token.header)
    client_id = claimed_client_id(claims)
    found = lookup(client_id)
    client = check_client(found.client if found else None, client_id, now)
    assert found is not None
    check_source(client, address)
    key = verify_signature(token, alg, found.keys, now, found.public_key, accept_high_s=policy.accept_high_s)
    check_audience(claims, policy)
    exp = check_times(claims, now.timestamp(), policy)
    return Authenticated(
        client=client,
        key=key,
        claims=dict(claims),
        replay_key=replay_key(client.client_id, claims, token.signing_input),
        replay_until=int(exp) + policy.leeway + 1,
    )
