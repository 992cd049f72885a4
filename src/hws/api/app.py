"""The ASGI application factory: the HTTP API alone. What else runs in the same process
(job runners, the scheduler) is passed in as ``background`` (see :mod:`hws.embedded`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from hws import __version__
from hws.api import admin, docs_pages, events, oauth, openapi_responses, operations, problems, publications, requests, v1
from hws.api.availability import AvailabilityMiddleware
from hws.api.metrics import MetricsMiddleware
from hws.api.problems import Problem
from hws.api.ratelimit import Limiter, RateLimitMiddleware
from hws.api.security import VerifiedTokens
from hws.config import API_PREFIX
from hws.console.app import install as install_console
from hws.service import Service
from hws.st96.api_documents import ProblemItem

log = logging.getLogger("hws.api")

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_HTTP_CODES = {
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


class Background(Protocol):
    """Something that runs beside the API for the app's lifetime (started, then stopped)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


def create_app(service: Service, *, background: Sequence[Background] = ()) -> FastAPI:
    """The API; ``background`` starts with the app (in order) and stops with it (reversed)."""
    settings = service.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.keyring.ensure()
        if service.change_feed is not None:
            service.change_feed.start()
        started: list[Background] = []
        try:
            for part in background:
                part.start()
                started.append(part)
            yield
        finally:
            for part in reversed(started):
                part.stop()
            if service.change_feed is not None:
                service.change_feed.stop()
            service.audit.flush()

    app = FastAPI(
        title="Hague Web Services (hws)",
        version=__version__,
        description="The International Bureau's side of WIPO's Hague Web Services: OAuth2 "
        "private_key_jwt token endpoint and the HWS REST API.",
        lifespan=lifespan,
        docs_url=None,  # served by docs_pages, from assets shipped in a package (no CDN)
        redoc_url=None,
    )
    app.state.service = service

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problems.render(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "invalid-request")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(app, request) or headers.get("Allow", "")
        return problems.render(request, Problem(code, detail=str(exc.detail), status=exc.status_code, headers=headers))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        items = [
            ProblemItem("invalid-parameter", str(e.get("msg", "")), "/".join(str(p) for p in e.get("loc", ())))
            for e in exc.errors()
        ]
        return problems.render(request, Problem("invalid-request", detail="request parameters are not valid", errors=items))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"event": "http.error", "path": request.url.path})
        return problems.render(request, Problem("internal-error", detail="an unexpected error occurred; it has been logged"))

    api_prefix = urlsplit(settings.public_url).path + API_PREFIX
    requests.install(app, api_prefix)  # first, on the app's own router: status polls are most of the traffic
    app.include_router(oauth.build_router(settings))
    app.include_router(v1.build_router(api_prefix))
    app.include_router(publications.build_router(api_prefix))
    app.include_router(admin.build_router(api_prefix))
    app.include_router(events.build_router(api_prefix))
    app.include_router(operations.router)
    openapi_responses.install(app, token_url=settings.token_endpoint)
    docs_pages.install(app)
    if settings.console:
        install_console(app)
    app.state.verified_tokens = VerifiedTokens()
    app.state.limiter = Limiter(
        per_minute=settings.rate_limit_per_minute,
        burst=settings.rate_limit_burst,
        max_concurrent=settings.max_concurrent_per_client,
    )
    app.state.token_limiter = Limiter(
        per_minute=settings.token_rate_per_minute,
        burst=max(settings.token_rate_per_minute // 2, 1),
        policy_name="token-per-address",
    )
    app.add_middleware(RateLimitMiddleware)  # RateLimit headers; frees a client's slot when its response ends
    app.add_middleware(AvailabilityMiddleware)  # database or blob store down → 503, not 500
    app.add_middleware(MetricsMiddleware)
    oauth.install(app)  # the token endpoint answers ahead of the middleware stack (its own metrics and errors)
    return app


def _allowed(app: FastAPI, request: Request) -> str:
    """The ``Allow`` header of a 405 (RFC 9110 §15.5.6): every method some route answers
    at this path (Starlette names only the first route's that matched the path)."""
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in app.router.routes)
    ]
    return ", ".join(allowed)
