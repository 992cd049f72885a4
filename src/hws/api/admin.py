"""The operator API (scope ``hws/admin``): read-only views of the client registry.

Examination and publication actions join it with their issues; enrolment stays a
command (``hws admin clients``) because it handles certificates on the operator's host.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from hws.api.openapi_responses import AUTHENTICATED, json_content, problems, ref
from hws.api.problems import Problem
from hws.api.security import Caller, requires, service_of
from hws.domain.scopes import ADMIN
from hws.store import service_requests as sr_store
from hws.usecases.examination import ExaminationError, Examiner


class Reason(BaseModel):
    reason: str = Field(..., min_length=1, max_length=2000, description="Recorded in the history; shown to the office.")


class Irregularity(Reason):
    fee_shortfall: bool = Field(False, description="Less than the basic fee was paid: two-month deadline.")


class OptionalReason(BaseModel):
    reason: str | None = Field(None, max_length=2000)


SRN = Annotated[str, Path(description="Service request number: 970 and six digits", examples=["970000001"])]


def _ok(description: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": json_content(schema)}}


_ONE_REQUEST = _ok("The service request after the action", ref("ServiceRequest"))
_BAD_BODY = {400: "The body is not valid JSON of the documented shape (invalid-request)"}
_TRANSITION = {
    404: "No such service request (not-found)",
    422: "The action is not allowed in the current status (validation-failed)",
}
ACTION_RESPONSES = {**_ONE_REQUEST, **problems(400, 404, 422, *AUTHENTICATED, described={**_BAD_BODY, **_TRANSITION})}
NO_BODY_ACTION_RESPONSES = {**_ONE_REQUEST, **problems(404, 422, *AUTHENTICATED, described=_TRANSITION)}


def build_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=f"{prefix}/admin", tags=["operator"])

    @router.get(
        "/clients",
        summary="List enrolled clients (operator)",
        responses={**_ok("The clients", {"type": "array", "items": ref("Client")}), **problems(*AUTHENTICATED)},
    )
    async def list_clients(request: Request, _caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        clients = await run_in_threadpool(service_of(request).registry.list)
        return JSONResponse([c.as_dict() for c in clients])

    @router.get(
        "/clients/{client_id}",
        summary="One client with its keys (operator)",
        responses={**_ok("The client and its keys", ref("Client")), **problems(404, *AUTHENTICATED)},
    )
    async def show_client(
        client_id: Annotated[str, Path(description="The client's id")],
        request: Request,
        _caller: Caller = Depends(requires(ADMIN)),
    ) -> JSONResponse:
        found = await run_in_threadpool(service_of(request).registry.get_with_keys, client_id)
        if found is None:
            raise Problem("not-found", detail=f"no client {client_id!r}")
        client, keys = found
        return JSONResponse({**client.as_dict(), "keys": [k.as_dict() for k in keys]})

    @router.get(
        "/requests",
        summary="Service requests by status and office (operator)",
        responses={
            **_ok("The service requests", {"type": "array", "items": ref("ServiceRequest")}),
            **problems(400, *AUTHENTICATED, described={400: "office or limit is not valid (invalid-request)"}),
        },
    )
    async def list_requests(
        request: Request,
        status: str | None = Query(None, description="Only this status, e.g. Undefined, Processing", examples=["Undefined"]),
        office: str | None = Query(None, pattern="^[A-Za-z]{2}$", description="Only this office (two letters)"),
        limit: int = Query(200, ge=1, le=10000, description="At most this many"),
        _caller: Caller = Depends(requires(ADMIN)),
    ) -> JSONResponse:
        items = await run_in_threadpool(
            sr_store.find, service_of(request).engine, status=status, office=office.upper() if office else None, limit=limit
        )
        return JSONResponse([sr.as_dict() for sr in items])

    @router.get(
        "/requests/{srn}",
        summary="One service request with its history (operator)",
        responses={
            **_ok("The service request, its history and its data", ref("ServiceRequest")),
            **problems(404, *AUTHENTICATED, described={404: "No such service request (not-found)"}),
        },
    )
    async def show_request(srn: SRN, request: Request, _caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        engine = service_of(request).engine
        sr = await run_in_threadpool(sr_store.get, engine, srn)
        if sr is None:
            raise Problem("not-found", detail=f"no service request {srn}")
        history = await run_in_threadpool(sr_store.history, engine, srn)
        return JSONResponse({**sr.as_dict(), "history": history, "data": sr.data})

    async def act(request: Request, caller: Caller, action: str, srn: str, **kwargs: Any) -> JSONResponse:
        examiner = Examiner(service_of(request))
        try:
            sr = await run_in_threadpool(
                lambda: getattr(examiner, action)(srn, actor=f"client:{caller.client.client_id}", **kwargs)
            )
        except ExaminationError as exc:
            code = "not-found" if "no service request" in str(exc) else "validation-failed"
            raise Problem(code, detail=str(exc)) from None
        return JSONResponse(sr.as_dict())

    @router.post("/requests/{srn}/take-up", summary="Undefined → Processing", responses=ACTION_RESPONSES)
    async def take_up(
        srn: SRN,
        request: Request,
        body: OptionalReason = Body(default_factory=OptionalReason),
        caller: Caller = Depends(requires(ADMIN)),
    ) -> JSONResponse:
        return await act(request, caller, "take_up", srn, **({"reason": body.reason} if body.reason else {}))

    @router.post("/requests/{srn}/irregularity", summary="Processing → Pending Regularization", responses=ACTION_RESPONSES)
    async def irregularity(
        srn: SRN, request: Request, body: Irregularity, caller: Caller = Depends(requires(ADMIN))
    ) -> JSONResponse:
        return await act(request, caller, "notify_irregularity", srn, reason=body.reason, fee_shortfall=body.fee_shortfall)

    @router.post("/requests/{srn}/regularization", summary="Pending Regularization → Processing", responses=ACTION_RESPONSES)
    async def regularization(
        srn: SRN,
        request: Request,
        body: OptionalReason = Body(default_factory=OptionalReason),
        caller: Caller = Depends(requires(ADMIN)),
    ) -> JSONResponse:
        return await act(request, caller, "regularize", srn, **({"reason": body.reason} if body.reason else {}))

    @router.post("/requests/{srn}/registration", summary="Processing → Registered", responses=NO_BODY_ACTION_RESPONSES)
    async def registration(srn: SRN, request: Request, caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        return await act(request, caller, "register", srn)

    @router.post("/requests/{srn}/cancellation", summary="Cancel the request", responses=ACTION_RESPONSES)
    async def cancellation(srn: SRN, request: Request, body: Reason, caller: Caller = Depends(requires(ADMIN))) -> JSONResponse:
        return await act(request, caller, "cancel", srn, reason=body.reason)

    return router
