"""The token endpoint's work: client_credentials granted to private_key_jwt clients."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from hws.auth import assertion as rules
from hws.auth.client_lookup import ClientLookup, ClientSnapshot, snapshot_of
from hws.auth.access_tokens import AccessTokenAuthority, IssuedToken
from hws.auth.errors import OAuthError, invalid_client, invalid_scope
from hws.auth.source_address import IPAddress
from hws.domain.clock import Clock
from hws.domain.scopes import parse_scope
from hws.store import assertion_uses
from hws.store.audit import AuditEvent, AuditLog
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
            "token_type": "Bearer",
            "expires_in": self.token.expires_in,
            "scope": self.token.scope,
        }


def _snapshot(found: tuple[Client, list[ClientKey]] | None) -> ClientSnapshot | None:
    return snapshot_of(*found) if found else None


def grant_scopes(client: Client, requested: str | None) -> list[str]:
    """Rule 13: requested scopes ⊆ the client's; none requested → its defaults."""
    wanted = parse_scope(requested)
    if not wanted:
        return list(client.default_scopes)
    refused = [s for s in wanted if s not in client.scopes]
    if refused:
        raise invalid_scope(f"scope not granted to this client: {' '.join(refused)}")
    return wanted


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
    ) -> None:
        self._engine = engine
        self._audit = audit
        self._registry = registry
        # Client look-ups only read, on the read-only view of the same engine (on SQLite
        # not queueing behind token writes for the write lock). Every request reads the client's current rows (one statement); what was built
        # from the same rows last time is reused. A registry of another kind (a test
        # double) is asked each time.
        self._lookup: Callable[[str], ClientSnapshot | None] = (
            ClientLookup(engine, ClientRegistry(read_only(engine), clock).get_with_keys)
            if type(registry) is ClientRegistry
            else lambda client_id: _snapshot(registry.get_with_keys(client_id))
        )
        self._authority = authority
        self._policy = policy
        self._clock = clock
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0

    def grant(
        self,
        form: Mapping[str, Sequence[str]],
        *,
        authorization: str | None,
        address: IPAddress | None,
    ) -> TokenGrant:
        """Answer one token request or raise :class:`OAuthError` (logged with its reason)."""
        try:
            request = rules.check_request(form, authorization)
            now = self._clock.now()
            authenticated = rules.authenticate(
                request,
                form,
                policy=self._policy,
                lookup=self._lookup,
                address=address,
                now=now,
            )
            scopes = grant_scopes(authenticated.client, request.scope)
            issued = AuditEvent(
                at=now, actor=authenticated.client.client_id, action="auth.token", outcome="issued",
                office=authenticated.client.office, source=str(address) if address else None,
                detail={"scope": " ".join(scopes), "kid": authenticated.key.kid},
            )  # fmt: skip
            if not assertion_uses.record_first_use(
                self._engine, authenticated.replay_key, authenticated.replay_until, int(now.timestamp()), issued.row()
            ):
                raise invalid_client("assertion replayed", "the client assertion has already been used")
            token = self._authority.issue(authenticated.client.client_id, scopes, now.timestamp())
        except OAuthError as exc:
            log.info(
                "token refused",
                extra={"event": "token.refused", "error": exc.error, "reason": exc.reason, "source": str(address)},
            )
            if self._audit:
                self._audit.log(
                    "anonymous", "auth.token", outcome="refused", source=str(address) if address else None,
                    detail={"error": exc.error, "reason": exc.reason},
                )  # fmt: skip
            raise
        log.debug(  # the audit log records every issuance durably
            "token issued",
            extra={
                "event": "token.issued",
                "client_id": authenticated.client.client_id,
                "office": authenticated.client.office,
                "scope": token.scope,
                "kid": authenticated.key.kid,
                "source": str(address),
            },
        )
        self._maybe_purge()
        return TokenGrant(authenticated.client, token)

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now < self._next_purge or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._next_purge = now + PURGE_INTERVAL
            assertion_uses.purge_expired(self._engine, int(self._clock.timestamp()))
        finally:
            self._purge_lock.release()
