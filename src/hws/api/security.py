"""Bearer-token checks for API routes (rule 15) and per-route scopes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from hws.api.problems import Problem
from hws.api.ratelimit import STATE_KEY, Limiter, Refused
from hws.auth.access_tokens import AccessToken
from hws.auth.errors import InvalidToken
from hws.auth.source_address import client_address
from hws.service import Service
from hws.store.clients import Client

REALM = "hws"


@dataclass(frozen=True)
class Caller:
    client: Client
    token: AccessToken
    source: str | None = None  # the request's source address (trusted proxies honoured)


def _invalid(description: str) -> Problem:
    return Problem(
        "invalid-token",
        detail=description,
        headers={
            "WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"',
            "Cache-Control": "no-store",
        },
    )


def service_of(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def _check(service: Service, authorization: str | None) -> Caller:
    if not authorization:
        raise _invalid("an access token is required")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _invalid("use the Bearer authentication scheme")
    try:
        token = service.authority.verify(value.strip(), service.clock.timestamp())
    except InvalidToken:
        raise _invalid("the access token is not valid") from None
    client = service.registry.get(token.client_id)
    if client is None or not client.active:
        raise _invalid("the access token's client is not active")
    return Caller(client, token)


def source_of(request: Request) -> str | None:
    service = service_of(request)
    address = client_address(
        request.client.host if request.client else None, request.headers.getlist("x-forwarded-for"), service.trusted_proxies
    )
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
            "rate-limited", detail=f"{exc.reason}; retry after {exc.retry_after} s", headers={**headers, "Retry-After": str(exc.retry_after)}
        ) from None
    request.scope.setdefault("state", {})[STATE_KEY] = admission


async def authenticated(request: Request) -> Caller:
    caller = await run_in_threadpool(_check, service_of(request), request.headers.get("authorization"))
    _admit(request, caller.client.client_id)
    return Caller(caller.client, caller.token, source_of(request))


def requires(scope: str):  # type: ignore[no-untyped-def]
    """A dependency: a valid token whose scope includes ``scope``."""

    async def dependency(caller: Caller = Depends(authenticated)) -> Caller:
        if scope not in caller.token.scopes:
            raise Problem(
                "insufficient-scope",
                detail=f"this call needs the scope {scope}",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'},
            )
        return caller

    return dependency
