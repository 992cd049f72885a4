"""The operator API (scope ``hws/admin``): read-only views of the client registry.

Examination and publication actions join it with their issues; enrolment stays a
command (``hws admin clients``) because it handles certificates on the operator's host.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from hws.api.problems import Problem
from hws.api.security import Caller, requires, service_of
from hws.domain.scopes import ADMIN
from hws.examination import ExaminationError, Examiner
from hws.store import service_requests as sr_store


class Reason(BaseModel):
    reason: str = Field(..., min_length=1, max_length=2000, description="Recorded in the history; shown to the office.")


class Irregularity(Reason):
    fee_shortfall: bool = Field(False, description="Less than the basic fee was paid: two-month deadline.")


class OptionalReason(BaseModel):
    reason: str | None = Field(None, max_length=2000)


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

    @router.get("/requests", summary="Service requests by status and office (operator)")
    async def list_requests(
        request: Request,
        status: str | None = Query(None),
        office: str | None = Query(None, pattern="^[A-Za-z]{2}$"),
        limit: int = Query(200, ge=1, le=10000),
        _caller: Caller = Depends(requires(ADMIN)),
    ) -> JSONResponse:
        items = await run_in_threadpool(
            sr_store.find, service_of(request).engine, status=status, office=office.upper() if office else None, limit=limit
        )
        return JSONResponse([sr.as_dict() for sr in items])

    @router.get("/requests/{srn}", summary="One service request with its history (operator)")
    async def show_request(srn: str, request: Request, _caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        engine = service_of(request).engine
        sr = await run_in_threadpool(sr_store.get, engine, srn)
        if sr is None:
            raise Problem("not-found", detail=f"no service request {srn}")
        history = await run_in_threadpool(sr_store.history, engine, srn)
        return JSONResponse({**sr.as_dict(), "history": history, "data": sr.data})

    async def act(request: Request, caller: Caller, action: str, srn: str, **kwargs: Any) -> JSONResponse:
        examiner = Examiner(service_of(request))
        try:
            sr = await run_in_threadpool(lambda: getattr(examiner, action)(srn, actor=f"client:{caller.client.client_id}", **kwargs))
        except ExaminationError as exc:
            code = "not-found" if "no service request" in str(exc) else "validation-failed"
            raise Problem(code, detail=str(exc)) from None
        return JSONResponse(sr.as_dict())

    @router.post("/requests/{srn}/take-up", summary="Undefined → Processing")
    async def take_up(srn: str, request: Request, body: OptionalReason = Body(default_factory=OptionalReason), caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        return await act(request, caller, "take_up", srn, **({"reason": body.reason} if body.reason else {}))

    @router.post("/requests/{srn}/irregularity", summary="Processing → Pending Regularization")
    async def irregularity(srn: str, request: Request, body: Irregularity, caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        return await act(request, caller, "notify_irregularity", srn, reason=body.reason, fee_shortfall=body.fee_shortfall)

    @router.post("/requests/{srn}/regularization", summary="Pending Regularization → Processing")
    async def regularization(srn: str, request: Request, body: OptionalReason = Body(default_factory=OptionalReason), caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        return await act(request, caller, "regularize", srn, **({"reason": body.reason} if body.reason else {}))

    @router.post("/requests/{srn}/registration", summary="Processing → Registered")
    async def registration(srn: str, request: Request, caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        return await act(request, caller, "register", srn)

    @router.post("/requests/{srn}/cancellation", summary="Cancel the request")
    async def cancellation(srn: str, request: Request, body: Reason, caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        return await act(request, caller, "cancel", srn, reason=body.reason)

    return router
