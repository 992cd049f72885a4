"""The token endpoint's work: client_credentials granted to private_key_jwt clients."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii as _json_string  # json.dumps's own string encoder
from typing import Any

from anyio.to_thread import run_sync
from sqlalchemy import Engine

from hws.auth import assertion as rules
from hws.auth import dpop
from hws.auth.access_tokens import AccessTokenAuthority, IssuedToken
from hws.auth.client_lookup import ClientLookup, ClientSnapshot, snapshot_of
from hws.auth.errors import OAuthError, invalid_client, invalid_request, invalid_scope
from hws.auth.source_address import IPAddress
from hws.domain.clock import Clock
from hws.domain.scopes import parse_scope
from hws.domain.token_binding import TokenBinding
from hws.store import assertion_uses
from hws.store.audit import AuditLog
from hws.store.clients import Client, ClientKey, ClientRegistry
from hws.store.database import read_only

log = logging.getLogger("hws.auth")

PURGE_INTERVAL = 60.0


@dataclass(frozen=True)
class TokenGrant:
    client: Client
    token: IssuedToken

    def body(self) -> dict[str, object]:
        return {
            "access_token": self.token.value,
            "token_type": self.token.token_type,
            "expires_in": self.token.expires_in,
            "scope": self.token.scope,
        }

    def json(self) -> bytes:
        """``json.dumps(self.body()).encode()``, byte for byte, without the encoder's
        generic walk (the token endpoint answers one per token)."""
        token = self.token
        return (
            f'{{"access_token": {_json_string(token.value)}, "token_type": {_json_string(token.token_type)}, '
            f'"expires_in": {int(token.expires_in)!r}, "scope": {_json_string(token.scope)}}}'
        ).encode()


@dataclass(frozen=True)
class _Prepared:
    authenticated: rules.Authenticated
    scopes: list[str]
    now: float
    keys: list[tuple[str, int]]  # single use: the assertion's key, then the DPoP proof's (key, until)
    audit: dict[str, Any]  # the issuance's audit row
    address: IPAddress | None
    proof: dpop.Proof | None


def _snapshot(found: tuple[Client, list[ClientKey]] | None) -> ClientSnapshot | None:
    return snapshot_of(*found) if found else None


def invalid_dpop_proof(description: str) -> OAuthError:
    return OAuthError("invalid_dpop_proof", description)


def check_binding(client: Client, proof: dpop.Proof | None) -> None:
    """The client's token binding: a ``bearer`` client sends no DPoP proof (refused, not
    ignored: its office asked for a bound token and would get a bearer one); a
    ``dpop-required`` client always sends one."""
    if proof is not None and not client.token_binding.accepts_dpop:
        raise invalid_request(
            "DPoP is not enabled for this client (its token binding is bearer): send no DPoP header, or ask the "
            "operator to set its token binding to dpop-allowed or dpop-required"
        )
    if proof is None and client.token_binding is TokenBinding.DPOP_REQUIRED:
        raise invalid_dpop_proof("this client's access tokens are DPoP-bound: a DPoP proof is required (RFC 9449)")


def grant_scopes(client: Client, requested: str | None) -> list[str]:
    """Rule 13: requested scopes ⊆ the client's; none requested → its defaults."""
    wanted = parse_scope(requested)
    if not wanted:
        return list(client.default_scopes)
    refused = [s for s in wanted if s not in client.scopes]
    if refused:
        raise invalid_scope(f"scope not granted to this client: {' '.join(refused)}")
    return wanted


def issuance_row(
    at: datetime, client: Client, kid: str, scopes: Sequence[str], address: IPAddress | None, proof: dpop.Proof | None
) -> dict[str, Any]:
    """The issuance's audit row: what ``AuditEvent(at=at, actor=client_id,
    action="auth.token", outcome="issued", office=…, source=…, detail={"scope": …, "kid": …
    [, "jkt": …]}).row()`` gives, built directly (the detail's members are written in sorted
    order, as ``row`` sorts them; every value is a string, encoded as ``json.dumps``
    encodes it)."""
    members = f'"kid": {_json_string(kid)}, "scope": {_json_string(" ".join(scopes))}}}'
    detail = f'{{"jkt": {_json_string(proof.jkt)}, {members}' if proof is not None else f"{{{members}"
    return {
        "at": at,
        "actor": client.client_id[:100],
        "office": client.office,
        "action": "auth.token",
        "target": None,
        "outcome": "issued",
        "source": str(address) if address else None,
        "detail": detail,
    }


class TokenService:
    def __init__(
        self,
        *,
        engine: Engine,
        registry: ClientRegistry,
        authority: AccessTokenAuthority,
        policy: rules.AssertionPolicy,
        clock: Clock,
        audit: AuditLog | None = None,
        proofs: dpop.ProofVerifier | None = None,
        token_endpoint: str = "",
    ) -> None:
        self._engine = engine
        self._proofs = proofs
        self._token_endpoint = token_endpoint
        self._audit = audit
        self._registry = registry
        # Client look-ups only read, on the read-only view of the same engine (on SQLite
        # not queueing behind token writes for the write lock). Every request reads the
        # client's current rows (one statement); what was built from the same rows last
        # time is reused. A registry of another kind (a test double) is asked each time.
        self._lookup: Callable[[str], ClientSnapshot | None] = (
            ClientLookup(engine, ClientRegistry(read_only(engine), clock).get_with_keys)
            if type(registry) is ClientRegistry
            else lambda client_id: _snapshot(registry.get_with_keys(client_id))
        )
        self._authority = authority
        self._policy = policy
        self._clock = clock
        self._local = engine.dialect.name == "sqlite"
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0

    def grant(
        self,
        form: Mapping[str, Sequence[str]],
        *,
        authorization: str | None,
        address: IPAddress | None,
        dpop_proofs: Sequence[str] = (),
    ) -> TokenGrant:
        """Answer one token request or raise :class:`OAuthError` (logged with its reason).
        ``dpop_proofs``: the request's ``DPoP`` header values (RFC 9449)."""
        try:
            prepared = self._prepare(form, authorization, address, dpop_proofs)
            replayed = assertion_uses.record_first_uses(self._engine, prepared.keys, int(prepared.now), prepared.audit)
            grant = self._finish(prepared, replayed)
        except OAuthError as exc:
            self._refused(exc, address)
            raise
        self._maybe_purge()
        return grant

    async def grant_async(
        self,
        form: Mapping[str, Sequence[str]],
        *,
        authorization: str | None,
        address: IPAddress | None,
        dpop_proofs: Sequence[str] = (),
    ) -> TokenGrant:
        """:meth:`grant` for an event loop. On SQLite the checks run on the loop (the
        client read is one local statement; the signature check and the token's signature
        are a few dozen microseconds) and only the commit goes to a thread; on PostgreSQL
        the checks, whose client read is a network round trip, run in a worker thread."""
        try:
            if self._local:
                prepared = self._prepare(form, authorization, address, dpop_proofs)
            else:
                prepared = await run_sync(self._prepare, form, authorization, address, dpop_proofs)
            replayed = await assertion_uses.record_first_uses_async(
                self._engine, prepared.keys, int(prepared.now), prepared.audit
            )
            grant = self._finish(prepared, replayed)
        except OAuthError as exc:
            self._refused(exc, address)
            raise
        if time.monotonic() >= self._next_purge:
            await run_sync(self._maybe_purge)
        return grant

    def _prepare(
        self,
        form: Mapping[str, Sequence[str]],
        authorization: str | None,
        address: IPAddress | None,
        dpop_proofs: Sequence[str] = (),
    ) -> _Prepared:
        """Rules 1-9 and 11-13: who is asking, for what; the single uses still to record.
        A DPoP proof is checked first (a missing nonce is answered before the client
        assertion is spent), and its binding against the client's once it is known."""
        request = rules.check_request(form, authorization)
        now = self._clock.now()
        proof = self._proof(dpop_proofs, now.timestamp())
        authenticated = rules.authenticate(
            request,
            form,
            policy=self._policy,
            lookup=self._lookup,
            address=address,
            now=now,
        )
        check_binding(authenticated.client, proof)
        scopes = grant_scopes(authenticated.client, request.scope)
        issued = issuance_row(now, authenticated.client, authenticated.key.kid, scopes, address, proof)
        keys = [(authenticated.replay_key, authenticated.replay_until)]
        if proof is not None:
            keys.append((proof.replay_key, proof.replay_until))
        return _Prepared(authenticated, scopes, now.timestamp(), keys, issued, address, proof)

    def _proof(self, values: Sequence[str], now: float) -> dpop.Proof | None:
        """The request's DPoP proof, checked (RFC 9449 §4.3; ``htu`` is the advertised
        token endpoint), or ``None`` when it sent none."""
        if not values:
            return None
        if self._proofs is None:
            raise invalid_dpop_proof("DPoP is not enabled on this service")
        try:
            return self._proofs.verify(values, method="POST", uri=self._token_endpoint, now=now)
        except dpop.DPoPError as exc:
            raise OAuthError(exc.error, exc.reason) from None

    def nonce(self) -> str | None:
        """The DPoP nonce to send with a token response (``DPoP-Nonce``), if nonces are on."""
        return self._proofs.nonce(self._clock.timestamp()) if self._proofs is not None else None

    def _finish(self, prepared: _Prepared, replayed: int | None) -> TokenGrant:
        """Rule 10's verdict (and the DPoP proof's single use), then the access token."""
        if replayed == 0:
            raise invalid_client("assertion replayed", "the client assertion has already been used")
        if replayed is not None:
            raise invalid_dpop_proof("DPoP proof replayed (its jti was used before)")
        client = prepared.authenticated.client
        jkt = prepared.proof.jkt if prepared.proof is not None else None
        token = self._authority.issue(client.client_id, prepared.scopes, prepared.now, jkt)
        if log.isEnabledFor(logging.DEBUG):  # the audit log records every issuance durably
            log.debug(
                "token issued",
                extra={
                    "event": "token.issued",
                    "client_id": client.client_id,
                    "office": client.office,
                    "scope": token.scope,
                    "kid": prepared.authenticated.key.kid,
                    "source": str(prepared.address),
                },
            )
        return TokenGrant(client, token)

    def _refused(self, exc: OAuthError, address: IPAddress | None) -> None:
        if exc.error == "use_dpop_nonce":  # a step of the protocol (RFC 9449 §8), not a refusal
            log.debug("dpop nonce sent", extra={"event": "token.dpop_nonce", "source": str(address)})
            return
        log.info(
            "token refused",
            extra={"event": "token.refused", "error": exc.error, "reason": exc.reason, "source": str(address)},
        )
        if self._audit:
            self._audit.log(
                "anonymous", "auth.token", outcome="refused", source=str(address) if address else None,
                detail={"error": exc.error, "reason": exc.reason},
            )  # fmt: skip

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now < self._next_purge or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._next_purge = now + PURGE_INTERVAL
            assertion_uses.purge_expired(self._engine, int(self._clock.timestamp()))
        finally:
            self._purge_lock.release()
