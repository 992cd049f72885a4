"""The office's events (scope ``hws/requests``): the pull feed ``GET /events`` with
long-polling, and the office's own webhook endpoints under ``/webhooks``.

The feed follows RFC 8936's poll model: the answer holds the office's events after the
cursor, oldest first, at most ``limit``; asking with ``after=<cursor>`` acknowledges
everything up to it, and the service keeps that acknowledgement per client, so a client
that asks without a cursor resumes where it acknowledged. ``wait=`` seconds: when
nothing is there yet, the answer waits for the first event (long poll). A cursor older
than the retention gets 410 (cursor-expired).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from hws.api.openapi_responses import AUTHENTICATED, json_content, problems
from hws.api.problems import Problem
from hws.api.security import Caller, requires, service_of
from hws.domain.events import decode_cursor, encode_cursor
from hws.domain.scopes import REQUESTS
from hws.domain.webhook_policy import EndpointRefused
from hws.service import Service
from hws.store import events as event_store
from hws.store import webhooks as webhook_store
from hws.usecases import webhooks

#: how often a waiting long poll checks whether this process recorded an event
_SIGNAL_CHECK = 0.05

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A CloudEvents 1.0 event (JSON format)",
    "required": ["specversion", "id", "source", "type", "time", "hwsoffice", "hwssequence", "data"],
    "properties": {
        "specversion": {"type": "string"},
        "id": {"type": "string"},
        "source": {"type": "string"},
        "type": {"type": "string"},
        "subject": {"type": "string"},
        "time": {"type": "string"},
        "datacontenttype": {"type": "string"},
        "hwsoffice": {"type": "string"},
        "hwssequence": {"type": "integer"},
        "data": {"type": "object"},
    },
}
FEED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events", "cursor", "more"],
    "properties": {
        "events": {"type": "array", "items": EVENT_SCHEMA},
        "cursor": {"type": "string", "description": "Pass as after= to get what follows (acknowledges these events)"},
        "more": {"type": "boolean", "description": "More events follow: ask again at once"},
    },
}
ENDPOINT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "url", "enabled"],
    "properties": {
        "id": {"type": "string"},
        "office": {"type": "string"},
        "url": {"type": "string"},
        "description": {"type": "string"},
        "enabled": {"type": "boolean"},
        "secret": {"type": "string", "description": "whsec_… signing secret: shown when the endpoint is created only"},
    },
}
ENDPOINT_ID = Annotated[str, Path(description="The endpoint's id (wh_…)", examples=["wh_0123456789abcdef0123"])]


class NewEndpoint(BaseModel):
    url: str = Field(..., min_length=1, max_length=2000, description="https:// URL that receives the deliveries")
    description: str = Field("", max_length=200)


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _feed(service: Service, office: str, after: int, limit: int) -> event_store.Page:
    return event_store.page(service.engine, office, after, limit)


def build_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["events"])

    @router.get(
        "/events",
        summary="The office's events after a cursor, oldest first (CloudEvents 1.0 JSON); long poll with wait=",
        response_class=JSONResponse,
        responses={
            200: {"description": "Events (maybe none after wait= seconds) and the next cursor",
                  "content": json_content(FEED_SCHEMA)},
            **problems(400, 410, *AUTHENTICATED, described={
                400: "The cursor is not one this feed gave (invalid-request)",
                410: "The cursor is older than the retention; start again without one (cursor-expired)",
            }),
        },
    )  # fmt: skip
    async def feed(
        request: Request,
        after: str | None = Query(
            None, max_length=40, description="Cursor of the last event handled (acknowledges it); default: the last acknowledged"
        ),
        wait: int = Query(0, ge=0, le=300, description="Seconds to wait for an event when there is none yet"),
        limit: int = Query(100, ge=1, le=1000, description="Most events in this answer"),
        caller: Caller = Depends(requires(REQUESTS)),
    ) -> Response:
        service = service_of(request)
        settings = service.settings
        client = caller.client
        office = client.office
        if after is None:
            start = await run_in_threadpool(event_store.acknowledged, service.engine, client.client_id) or 0
        else:
            try:
                start = decode_cursor(after)
            except ValueError as exc:
                raise Problem("invalid-request", detail=str(exc)) from None
            latest = await run_in_threadpool(event_store.latest, service.engine, office)
            if start > latest:
                raise Problem("invalid-request", detail=f"cursor {after} is ahead of this office's feed (last: {latest})")
            now = service.clock.now()
            await run_in_threadpool(event_store.acknowledge, service.engine, client.client_id, office, start, now)
        limit = min(limit, settings.event_page_size)
        deadline = time.monotonic() + min(wait, settings.event_max_wait)
        signal = service.event_signal
        while True:
            seen = signal.generation
            try:
                page = await run_in_threadpool(_feed, service, office, start, limit)
            except event_store.CursorExpired as exc:
                raise Problem(
                    "cursor-expired",
                    detail=f"events up to {exc.oldest} were removed (retention {settings.event_retention_days} days); "
                    "read the statuses and publications again, then follow from the feed's start",
                ) from None
            if page.events or time.monotonic() >= deadline:
                break
            next_look = min(time.monotonic() + settings.event_poll_interval, deadline)
            while time.monotonic() < next_look and signal.generation == seen:
                if await request.is_disconnected():
                    return Response(status_code=204)
                await asyncio.sleep(min(_SIGNAL_CHECK, max(next_look - time.monotonic(), 0)))
        source = settings.api_url
        return _json({"events": [e.envelope(source) for e in page.events], "cursor": encode_cursor(page.last), "more": page.more})

    # The office's webhook endpoints ---------------------------------------------------

    def _endpoint(service: Service, endpoint_id: str, office: str) -> webhook_store.Endpoint:
        try:
            return webhooks.get_endpoint(service, endpoint_id, office)
        except webhooks.NotFound as exc:
            raise Problem("not-found", detail=str(exc)) from None

    @router.get(
        "/webhooks",
        summary="The office's webhook endpoints",
        response_class=JSONResponse,
        responses={
            200: {"description": "Endpoints (without secrets)",
                  "content": json_content({"type": "object", "properties": {"endpoints": {"type": "array",
                                                                                          "items": ENDPOINT_SCHEMA}}})},
            **problems(*AUTHENTICATED),
        },
    )  # fmt: skip
    async def list_endpoints(request: Request, caller: Caller = Depends(requires(REQUESTS))) -> Response:
        service = service_of(request)
        found = await run_in_threadpool(webhook_store.listing, service.engine, caller.client.office)
        return _json({"endpoints": [e.as_dict() for e in found]})

    @router.post(
        "/webhooks",
        status_code=201,
        summary="Register a webhook endpoint for the office's events (the answer holds its signing secret, once)",
        response_class=JSONResponse,
        responses={
            201: {"description": "Registered; keep the secret to verify deliveries", "content": json_content(ENDPOINT_SCHEMA)},
            **problems(400, 422, *AUTHENTICATED, described={
                422: "The URL is refused (not https, resolves to a private address, …) or the office has too many "
                "endpoints (validation-failed)",
            }),
        },
    )  # fmt: skip
    async def add_endpoint(body: NewEndpoint, request: Request, caller: Caller = Depends(requires(REQUESTS))) -> Response:
        service = service_of(request)
        try:
            endpoint = await run_in_threadpool(
                lambda: webhooks.add_endpoint(
                    service, office=caller.client.office, url=body.url, description=body.description,
                    actor=caller.client.client_id,
                )
            )  # fmt: skip
        except (EndpointRefused, webhooks.WebhookError) as exc:
            raise Problem("validation-failed", detail=str(exc)) from None
        return _json(endpoint.as_dict(with_secret=True), status=201)

    @router.get(
        "/webhooks/{endpointId}",
        summary="One of the office's webhook endpoints, with its recent deliveries",
        response_class=JSONResponse,
        responses={
            200: {"description": "The endpoint and its 100 most recent deliveries", "content": json_content(ENDPOINT_SCHEMA)},
            **problems(404, *AUTHENTICATED),
        },
    )
    async def get_endpoint(endpointId: ENDPOINT_ID, request: Request, caller: Caller = Depends(requires(REQUESTS))) -> Response:
        service = service_of(request)
        endpoint = await run_in_threadpool(_endpoint, service, endpointId, caller.client.office)
        found = await run_in_threadpool(webhook_store.deliveries, service.engine, endpoint.endpoint_id)
        return _json({**endpoint.as_dict(), "deliveries": [d.as_dict() for d in found]})

    @router.delete(
        "/webhooks/{endpointId}",
        status_code=204,
        summary="Remove one of the office's webhook endpoints (its pending deliveries are dropped)",
        response_class=Response,
        responses={204: {"description": "Removed"}, **problems(404, *AUTHENTICATED)},
    )
    async def remove_endpoint(
        endpointId: ENDPOINT_ID, request: Request, caller: Caller = Depends(requires(REQUESTS))
    ) -> Response:
        service = service_of(request)
        try:
            await run_in_threadpool(
                lambda: webhooks.remove_endpoint(service, endpointId, actor=caller.client.client_id, office=caller.client.office)
            )
        except webhooks.NotFound as exc:
            raise Problem("not-found", detail=str(exc)) from None
        return Response(status_code=204)

    @router.post(
        "/webhooks/{endpointId}/test",
        status_code=202,
        summary="Queue a signed test delivery (type int.wipo.hws.webhook.test) to the endpoint",
        response_class=JSONResponse,
        responses={
            202: {"description": "Queued; its id", "content": json_content({"type": "object",
                                                                            "properties": {"eventId": {"type": "string"}}})},
            **problems(404, 422, *AUTHENTICATED, described={422: "The endpoint is disabled (validation-failed)"}),
        },
    )  # fmt: skip
    async def test_endpoint(endpointId: ENDPOINT_ID, request: Request, caller: Caller = Depends(requires(REQUESTS))) -> Response:
        service = service_of(request)
        try:
            event_id = await run_in_threadpool(
                lambda: webhooks.send_test(service, endpointId, actor=caller.client.client_id, office=caller.client.office)
            )
        except webhooks.NotFound as exc:
            raise Problem("not-found", detail=str(exc)) from None
        except webhooks.WebhookError as exc:
            raise Problem("validation-failed", detail=str(exc)) from None
        return _json({"eventId": event_id}, status=202)

    return router
