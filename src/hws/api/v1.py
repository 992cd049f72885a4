"""The HWS API, version 1 (``/webservices/api/v1``)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hws.api.openapi_responses import AUTHENTICATED, problems
from hws.api.problems import Problem
from hws.api.representations import negotiated, ping_json, status_content
from hws.api.security import Caller, authenticated, service_of
from hws.st96.api_documents import ping_response

#: The XSDs the service publishes: its own documents and RFC 9457 problems in XML.
SCHEMA_FILES = ("hws-api-v1.xsd", "st96-common-subset.xsd", "problem-rfc9457.xsd")


def build_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["hws"])

    @router.get(
        "/pingMe",
        summary="Connectivity check: a hello message with the given name",
        response_class=Response,
        responses={
            200: {
                "content": status_content("PingResponse", prefix),
                "description": "Hello message: XML by default, JSON when Accept prefers it (Vary: Accept)",
            },
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
        client = caller.client
        return negotiated(
            request,
            xml=lambda: ping_response(message, client.client_id, client.office, now),
            as_json=lambda: ping_json(message, client.client_id, client.office, now),
            headers={"Cache-Control": "no-store"},
        )

    @router.get(
        "/schemas/{name}",
        summary="The XSDs of the API's XML documents (hws-api-v1.xsd and the ST.96 subset it imports, problem-rfc9457.xsd); no token",
        response_class=Response,
        responses={
            200: {"content": {"application/xml": {"schema": {"type": "string"}}}, "description": "The XSD"},
            **problems(404, described={404: "Not one of the published XSDs (not-found)"}),
        },
    )
    async def schema_file(name: str) -> Response:
        if name not in SCHEMA_FILES:
            raise Problem("not-found", detail=f"no schema {name!r}; published: {', '.join(SCHEMA_FILES)}")
        body = resources.files("hws.st96").joinpath("schemas", name).read_bytes()
        return Response(body, media_type="application/xml", headers={"Cache-Control": "max-age=3600"})

    return router
