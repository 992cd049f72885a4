"""The HWS API, version 1 (``/webservices/api/v1``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hws.api.openapi_responses import AUTHENTICATED, problems
from hws.api.security import Caller, authenticated, service_of
from hws.st96.api_documents import ping_response

XML = "application/xml"


def build_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["hws"])

    @router.get(
        "/pingMe",
        summary="Connectivity check: a hello message with the given name",
        response_class=Response,
        responses={
            200: {"content": {XML: {}}, "description": "Hello message"},
            **problems(400, *AUTHENTICATED, described={400: "name is longer than 200 characters (invalid-request)"}),
        },
    )
    async def ping_me(
        request: Request,
        name: str | None = Query(None, max_length=200, description="Name to greet"),
        caller: Caller = Depends(authenticated),
    ) -> Response:
        message = f"Hello {name}" if name else "Hello"
        now = service_of(request).clock.now()
        body = ping_response(message, caller.client.client_id, caller.client.office, now)
        return Response(body, media_type=XML, headers={"Cache-Control": "no-store"})

    return router
