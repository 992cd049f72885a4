"""Bearer-token checks for API routes (rule 15) and per-route scopes."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

from fastapi import Request
from starlette.types import Scope

from hws.api.cached_reads import read_through
from hws.api.problems import Problem
from hws.api.ratelimit import STATE_KEY, Limiter, Refused
from hws.auth.access_tokens import AccessToken
from hws.auth.dpop import DPOP_ALGS, DPoPError
from hws.auth.errors import InvalidToken
from hws.auth.source_address import IPAddress, IPNetwork, client_address
from hws.domain.token_binding import TokenBinding
from hws.keys.public_keys import b64url_decode
from hws.service import Service
from hws.store import assertion_uses
from hws.store.clients import Client

REALM = "hws"


@dataclass(frozen=True)
class Caller:
    client: Client
    token: AccessToken
    request: Request | None = None

    @cached_property
    def source(self) -> str | None:
        """The request's source address (trusted proxies honoured), worked out when asked."""
        return source_of(self.request) if self.request is not None else None


#: the DPoP challenge (RFC 9449 §7.1): the algorithms proofs may be signed with
DPOP_CHALLENGE = f'DPoP algs="{" ".join(DPOP_ALGS)}"'
#: RFC 9449 error → problem code
_DPOP_PROBLEMS = {"invalid_dpop_proof": "invalid-dpop-proof", "use_dpop_nonce": "use-dpop-nonce"}


def _invalid(description: str, *, dpop: bool = False) -> Problem:
    """401 ``invalid_token``, challenged in the scheme the request used (``dpop``: DPoP)."""
    scheme = DPOP_CHALLENGE if dpop else f'Bearer realm="{REALM}"'
    return Problem(
        "invalid-token",
        detail=description,
        headers={
            "WWW-Authenticate": f'{scheme}, error="invalid_token", error_description="{description}"',
            "Cache-Control": "no-store",
        },
    )


def _proof_refused(error: str, description: str, nonce: str | None) -> Problem:
    """401 for a DPoP proof we do not accept (RFC 9449 §7.1, §9), with the current nonce."""
    headers = {
        "WWW-Authenticate": f'{DPOP_CHALLENGE}, error="{error}", error_description="{description}"',
        "Cache-Control": "no-store",
    }
    if nonce:
        headers["DPoP-Nonce"] = nonce
    return Problem(_DPOP_PROBLEMS[error], detail=description, headers=headers)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


class VerifiedTokens:
    """Access tokens this process has verified (rule 15), so that an office polling with
    the same token pays the signature check once, not on every call.

    Keyed by the token's SHA-256 (the token itself is not kept); an entry is used only
    until the token expires (plus the leeway, as :meth:`AccessTokenAuthority.verify`)
    and only while the service key that signed it is still in the keyring (a key
    removed by the operator ends its tokens within a second). Bounded: when full, the
    oldest entries go. Whether the token's client is still active is not cached.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: dict[bytes, tuple[AccessToken, str]] = {}  # digest → (token, kid of its key)
        self._lock = threading.Lock()

    def check(self, service: Service, value: str) -> AccessToken:
        """The verified token, or raise :class:`InvalidToken`."""
        now = service.clock.timestamp()
        digest = hashlib.sha256(value.encode()).digest()
        entry = self._entries.get(digest)
        if entry is not None:
            token, kid = entry
            if token.expires_at + service.settings.clock_skew_leeway >= now and service.keyring.get(kid) is not None:
                return token
        token = service.authority.verify(value, now)  # raises InvalidToken
        kid = json.loads(b64url_decode(value.partition(".")[0]))["kid"]  # verify() checked it is there
        with self._lock:
            if len(self._entries) >= self.capacity:
                for stale in list(self._entries)[: self.capacity // 4]:  # oldest first (insertion order)
                    del self._entries[stale]
            self._entries[digest] = (token, kid)
        return token


def _credentials(authorization: str | None) -> tuple[bool, str]:
    """The access token and whether it came with the DPoP scheme (schemes are
    case-insensitive, RFC 9110 §11.1)."""
    if not authorization:
        raise _invalid("an access token is required")
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop") or not value.strip():
        raise _invalid("use the Bearer or DPoP authentication scheme")
    return scheme == "dpop", value.strip()


def _verified(request: Request, service: Service, value: str, dpop: bool) -> AccessToken:
    cache: VerifiedTokens | None = getattr(request.app.state, "verified_tokens", None)
    try:
        if cache is None:
            return service.authority.verify(value, service.clock.timestamp())
        return cache.check(service, value)
    except InvalidToken:
        raise _invalid("the access token is not valid", dpop=dpop) from None


async def _check_proof(request: Request, service: Service, value: str, token: AccessToken) -> None:
    """RFC 9449 §7: the request's DPoP proof is valid for this request and this token,
    signed by the key the token is bound to, and used once."""
    now = service.clock.timestamp()
    uri = f"{service.settings.public_url}{request.url.path}"
    try:
        proof = service.proofs.verify(
            request.headers.getlist("dpop"), method=request.method, uri=uri, now=now, access_token=value
        )
    except DPoPError as exc:
        raise _proof_refused(exc.error, exc.reason, service.proofs.nonce(now)) from None
    if not hmac.compare_digest(proof.jkt, token.jkt or ""):
        raise _proof_refused("invalid_dpop_proof", "the DPoP proof is not signed by the key the token is bound to", None)
    if not await assertion_uses.record_first_use_async(service.engine, proof.replay_key, proof.replay_until, int(now)):
        raise _proof_refused("invalid_dpop_proof", "the DPoP proof was used before: sign a new one for each request", None)


def source_address(scope: Scope, trusted: Sequence[IPNetwork]) -> IPAddress | None:
    """The one place that decides where a request comes from (checklist rule 18).

    The socket's peer, unless that peer is one of the configured trusted proxies
    (``HWS_TRUSTED_PROXIES``, none by default): then its ``X-Forwarded-For`` is read
    (:func:`hws.auth.source_address.client_address`). ``hws serve`` runs uvicorn
    without ``proxy_headers``, so ``scope["client"]`` is the socket's peer. The token
    endpoint's allow-list check, the per-address token rate limit and the audit log's
    ``source`` all take their address from here.
    """
    client = scope.get("client")
    forwarded_for = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
    return client_address(client[0] if client else None, forwarded_for, trusted)


def source_of(request: Request) -> str | None:
    address = source_address(request.scope, service_of(request).trusted_proxies)
    return str(address) if address else None


def _admit(request: Request, client_id: str) -> None:
    limiter: Limiter | None = getattr(request.app.state, "limiter", None)
    if limiter is None or not limiter.enabled:
        return
    try:
        admission = limiter.admit(client_id)
    except Refused as exc:
        headers = {name.decode(): value.decode() for name, value in exc.headers}
        raise Problem(
            "rate-limited",
            detail=f"{exc.reason}; retry after {exc.retry_after} s",
            headers={**headers, "Retry-After": str(exc.retry_after)},
        ) from None
    request.scope.setdefault("state", {})[STATE_KEY] = admission


async def authenticated(request: Request) -> Caller:
    service = service_of(request)
    dpop, value = _credentials(request.headers.get("authorization"))
    token = _verified(request, service, value, dpop)  # a cache hit costs microseconds; a miss one signature check
    if dpop:
        if token.jkt is None:
            raise _invalid("a bearer token is presented with the Bearer scheme, not DPoP", dpop=True)
        await _check_proof(request, service, value, token)
    elif token.jkt is not None:
        raise _invalid("this access token is DPoP-bound: present it with the DPoP scheme and a DPoP proof", dpop=True)
    client = await read_through(service, "clients", token.client_id, partial(service.registry.get, token.client_id))
    if client is None or not client.active:
        raise _invalid("the access token's client is not active", dpop=dpop)
    if token.jkt is None and client.token_binding is TokenBinding.DPOP_REQUIRED:
        raise _invalid("this client's access tokens must be DPoP-bound: get a new token with a DPoP proof")
    _admit(request, client.client_id)
    return Caller(client, token, request)


async def authorized(request: Request, scope: str) -> Caller:
    """A valid token whose scope includes ``scope`` (the body of :func:`requires`; the
    status routes, polled most, call it directly rather than as a dependency)."""
    caller = await authenticated(request)
    if scope not in caller.token.scopes:
        raise Problem(
            "insufficient-scope",
            detail=f"this call needs the scope {scope}",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'},
        )
    return caller


def requires(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: a valid token whose scope includes ``scope``."""

    async def dependency(request: Request) -> Caller:
        return await authorized(request, scope)

    return dependency
