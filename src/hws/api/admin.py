"""The operator API (scope ``hws/admin``): read-only views of the client registry.

Examination and publication actions join it with their issues; enrolment stays a
command (``hws admin clients``) because it handles certificates on the operator's host.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from hws.api.problems import Problem
from hws.api.security import Caller, requires, service_of
from hws.domain.scopes import ADMIN


def build_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=f"{prefix}/admin", tags=["operator"])

    @router.get("/clients", summary="List enrolled clients (operator)")
    async def list_clients(request: Request, _caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        clients = await run_in_threadpool(service_of(request).registry.list)
        return JSONResponse([c.as_dict() for c in clients])

    @router.get("/clients/{client_id}", summary="One client with its keys (operator)")
    async def show_client(client_id: str, request: Request, _caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        found = await run_in_threadpool(service_of(request).registry.get_with_keys, client_id)
        if found is None:
            raise Problem("not-found", detail=f"no client {client_id!r}")
        client, keys = found
        return JSONResponse({**client.as_dict(), "keys": [k.as_dict() for k in keys]})

    return router
