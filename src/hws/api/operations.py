"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from hws.api.metrics import JobQueueCollector
from hws.api.security import service_of
from hws.store import migration
from hws.store.database import ping

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


_READINESS = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {"status": {"type": "string", "enum": ["ready", "not-ready"]}, "checks": {"type": "object"}},
}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is current",
    responses={
        200: {"description": "Ready", "content": {"application/json": {"schema": _READINESS}}},
        503: {"description": "Not ready: see checks (Retry-After)", "content": {"application/json": {"schema": _READINESS}}},
    },
)
async def readyz(request: Request) -> JSONResponse:
    service = service_of(request)
    checks: dict[str, object] = {}
    ready = True
    try:
        await run_in_threadpool(ping, service.engine)
        revision = await run_in_threadpool(migration.current_revision, service.engine)
        head = migration.head_revision()
        checks["database"] = {"status": "ok", "revision": revision, "head": head}
        if revision != head:
            ready = False
            checks["database"] = {"status": "schema-outdated", "revision": revision, "head": head}
    except Exception as exc:  # any database failure means not ready
        ready = False
        checks["database"] = {"status": "unavailable", "error": type(exc).__name__}
    try:
        checks["signing_key"] = {"status": "ok", "kid": service.keyring.active.kid}
    except RuntimeError:
        ready = False
        checks["signing_key"] = {"status": "missing"}
    versions = service.schema_set.versions()
    checks["st96_schemas"] = {
        "installed": versions,
        "mode": "xsd+structural" if versions else "structural-only",
        "other_versions": service.structural_only.describe(versions),
        **({} if versions else {"hint": "install WIPO's ST.96 schemas with `hws admin schemas install DIR|ZIP`"}),
    }
    if service.change_feed is not None and service.read_cache is not None:
        # informative only: with the cache off every read goes to the database
        checks["read_cache"] = {"status": service.change_feed.state, "entries": len(service.read_cache),
                                "hits": service.read_cache.hits, "misses": service.read_cache.misses}  # fmt: skip
    try:
        checks["jobs"] = await run_in_threadpool(service.jobs.counts)
    except Exception:  # reported through the database check
        pass
    status = "ready" if ready else "not-ready"
    headers = {} if ready else {"Retry-After": "5"}
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503, headers=headers)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def metrics(request: Request) -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # hws serve --workers N: every process's counters
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    # The job queue's gauges are read from the database (the truth all processes share)
    # for this scrape, by the service answering it: a registry of their own, so no
    # process-wide registration (one per service) and no summing across processes.
    queue = CollectorRegistry(auto_describe=False)
    queue.register(JobQueueCollector(service_of(request).jobs.backlog))
    body = await run_in_threadpool(lambda: generate_latest(registry) + generate_latest(queue))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
