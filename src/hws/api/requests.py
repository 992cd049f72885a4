"""``/request``: submit packages, follow imports and service requests (scope ``hws/requests``)."""

from __future__ import annotations

import hmac
import logging
import re
from enum import Enum
from functools import partial
from typing import Annotated

from fastapi import FastAPI, Path, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.api import upload
from hws.api.cached_reads import read_through
from hws.api.openapi_responses import AUTHENTICATED, problems
from hws.api.problems import Problem
from hws.api.representations import import_status_json, negotiated, request_status_json, status_content
from hws.api.security import authorized, service_of
from hws.domain.identifiers import IMPORT_ID_PATTERN, SRN_PATTERN, is_import_id, is_srn
from hws.domain.scopes import REQUESTS
from hws.service import Service
from hws.st96.api_documents import ImportStatusView, PackageProblem, RequestStatusView, import_status, request_status
from hws.store import imports as import_store
from hws.store import service_requests as sr_store
from hws.store.blobs import BlobWriter
from hws.store.clients import Client
from hws.store.compiled_reads import DirectReader
from hws.store.imports import ImportRecord
from hws.store.service_requests import ServiceRequest
from hws.usecases.intake import IdempotencyConflict, Receipt, record_receipt

log = logging.getLogger("hws.api.requests")

POLL_SECONDS = 2
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Patterns documented, not enforced by the framework: a non-matching id is 404 (not-found)
# after authentication, as for an id that does not exist.
IMPORT_ID = Annotated[
    str,
    Path(description="The import id (a ULID) of the 202 answer", examples=["01HZX3Q5N1V9B6R5T2J8K4M7PD"],
         json_schema_extra={"pattern": IMPORT_ID_PATTERN}),
]  # fmt: skip
SRN = Annotated[
    str,
    Path(description="Service request number (SRN): 970 and six ASCII digits", examples=["970000001"],
         json_schema_extra={"pattern": SRN_PATTERN}),
]  # fmt: skip

#: the optional headers of ``POST /request`` (read from the request, not as parameters)
SUBMIT_HEADERS = [
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Retry safely: same key + same bytes → the first answer (1-255 visible ASCII characters)",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    {
        "name": "Content-Digest",
        "in": "header",
        "required": False,
        "description": "RFC 9530, e.g. sha-256=:base64:",
        "schema": {"type": "string"},
    },
]

STATUS_RESPONSES = {
    304: {"description": "Not modified (If-None-Match matches the ETag)"},
    **problems(404, *AUTHENTICATED, described={404: "No such import or service request for this office (not-found)"}),
}


def _import_view(record: ImportRecord) -> ImportStatusView:
    return ImportStatusView(
        import_id=record.import_id,
        status=record.status,
        received_at=record.received_at,
        size=record.size,
        sha256=record.blob_sha256,
        processed_at=record.processed_at,
        transaction=record.transaction,
        office_reference=record.office_reference,
        srn=record.srn,
        problems=[
            PackageProblem(p["code"], p["severity"], p["message"], p.get("entry"), p.get("path"), p.get("line"))
            for p in record.problems
        ],
    )


def _import_response(request: Request, record: ImportRecord, status_code: int = 200, body: bytes | None = None) -> Response:
    headers = {"Cache-Control": "no-cache"}
    if record.status == import_store.PENDING:
        headers["Retry-After"] = str(POLL_SECONDS)
    return negotiated(
        request,
        xml=body if body is not None else (lambda: import_status(_import_view(record))),
        as_json=lambda: import_status_json(_import_view(record)),
        status_code=status_code,
        headers=headers,
        etag=record.etag,
        if_none_match=status_code == 200,
    )


def _read_import(reader: Engine | DirectReader, import_id: str) -> tuple[ImportRecord, bytes] | None:
    """An import and its status document (what the read cache keeps)."""
    record = import_store.get(reader, import_id)
    return None if record is None else (record, import_status(_import_view(record)))


def _request_view(sr: ServiceRequest) -> RequestStatusView:
    return RequestStatusView(
        import_id=sr.import_id,
        srn=sr.srn,
        status=sr.status,
        transaction=sr.transaction,
        office=sr.office,
        last_change=sr.updated_at,
        office_reference=sr.office_reference,
        irn=sr.irn,
        expected_publication=sr.expected_publication,
        regularization_deadline=sr.regularization_deadline,
    )


def _read_request(reader: Engine | DirectReader, srn: str) -> tuple[ServiceRequest, bytes] | None:
    """A service request and its status document (what the read cache keeps)."""
    sr = sr_store.get(reader, srn)
    return None if sr is None else (sr, request_status(_request_view(sr)))


def _store(service: Service, client: Client, writer: BlobWriter, idempotency_key: str | None, source: str | None) -> Receipt:
    """Blob durable (fsync, rename), then its rows committed — the sweeper kept out between."""
    with service.blobs.referencing():
        try:
            blob = writer.commit()
        except BaseException:
            writer.abort()
            raise
        return record_receipt(service, client, blob, idempotency_key, source)


def install(app: FastAPI, prefix: str) -> None:
    """Register the routes on ``app``'s own router: not an included router, whose extra
    routing layer would cost every status poll (most of the traffic) a second match."""
    router = app.router
    tags: list[str | Enum] = ["requests"]

    @router.post(
        f"{prefix}/request",
        tags=tags,
        status_code=202,
        summary="Send an indirect application or a decision (one ST.96 package ZIP)",
        response_class=Response,
        responses={
            202: {
                "description": "Received and durably stored; validation follows (the import's status, Pending)",
                "content": status_content("ImportStatus", prefix),
            },
            **problems(
                400,
                408,
                413,
                415,
                422,
                *AUTHENTICATED,
                described={
                    400: "Malformed request: empty or malformed body, bad Idempotency-Key or Content-Digest, or the "
                    "body differs from its Content-Digest (invalid-request, digest-mismatch); nothing stored",
                    413: "Package too large (payload-too-large); nothing stored",
                    415: "Not application/zip or multipart/form-data (unsupported-media-type)",
                    422: "Idempotency-Key reused with other bytes (idempotency-key-reused)",
                },
            ),
        },
        openapi_extra={
            "parameters": SUBMIT_HEADERS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/zip": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {
                        "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                    },
                },
            },
        },
    )
    async def submit(request: Request) -> Response:
        # No dependency to solve (the headers are documented in SUBMIT_HEADERS): every
        # package goes through here, and FastAPI's dependency machinery costs more than the check.
        caller = await authorized(request, REQUESTS)
        idempotency_key = request.headers.get("idempotency-key")
        content_digest = request.headers.get("content-digest")
        service = service_of(request)
        if idempotency_key is not None and not _KEY.match(idempotency_key):
            raise Problem("invalid-request", detail="Idempotency-Key must be 1-255 visible ASCII characters")
        expected = upload.expected_sha256(content_digest)
        writer = await run_in_threadpool(service.blobs.writer)
        try:
            await upload.receive(request, writer, service.settings.max_package_bytes, service.settings.upload_idle_timeout)
            if expected is not None and not hmac.compare_digest(expected, writer.digest()):
                raise Problem("digest-mismatch", detail="the body's sha-256 differs from Content-Digest; nothing was stored")
        except BaseException:
            await run_in_threadpool(writer.abort)
            raise
        try:
            receipt: Receipt = await run_in_threadpool(_store, service, caller.client, writer, idempotency_key, caller.source)
        except IdempotencyConflict as exc:
            raise Problem(
                "idempotency-key-reused",
                detail=f"this Idempotency-Key was used for import {exc.import_id} with a different package",
            ) from None
        record = receipt.record
        log.info(
            "package received",
            extra={"event": "import.received", "import_id": record.import_id, "client_id": caller.client.client_id,
                   "size": record.size, "sha256": record.blob_sha256, "replayed": receipt.replayed},
        )  # fmt: skip
        response = _import_response(request, record, status_code=202)
        response.headers["Location"] = f"{service.settings.api_url}/request/import/{record.import_id}"
        return response

    @router.get(
        f"{prefix}/request/import/{{importId}}",
        tags=tags,
        summary="Import status: Pending, Imported (with the SRN) or Rejected (with every problem)",
        response_class=Response,
        responses={
            200: {
                "content": status_content("ImportStatus", prefix, "ImportStatus", "ImportStatusRejected"),
                "description": "Import status: XML by default, JSON when Accept prefers it (Vary: Accept)",
            },
            **STATUS_RESPONSES,
        },
    )
    async def get_import(importId: IMPORT_ID, request: Request) -> Response:
        caller = await authorized(request, REQUESTS)  # no dependency to solve: the most polled route
        if not is_import_id(importId):
            raise Problem("not-found", detail=f"no import {importId!r}")
        service = service_of(request)
        found = await read_through(
            service,
            "imports",
            importId,
            partial(_read_import, service.reader, importId),
            lambda reader: _read_import(reader, importId),
        )
        if found is None or found[0].office != caller.client.office:
            raise Problem("not-found", detail=f"no import {importId!r} for this office")
        return _import_response(request, found[0], body=found[1])

    @router.get(
        f"{prefix}/request/{{serviceRequestId}}",
        tags=tags,
        summary="Service request status (SRN)",
        response_class=Response,
        responses={
            200: {
                "content": status_content("ServiceRequestStatus", prefix),
                "description": "Service request status: XML by default, JSON when Accept prefers it (Vary: Accept)",
            },
            **STATUS_RESPONSES,
        },
    )
    async def get_request(serviceRequestId: SRN, request: Request) -> Response:
        caller = await authorized(request, REQUESTS)  # no dependency to solve: polled most
        if not is_srn(serviceRequestId):
            raise Problem("not-found", detail=f"no service request {serviceRequestId!r} (SRNs are nine digits starting 970)")
        service = service_of(request)
        found = await read_through(
            service,
            "service_requests",
            serviceRequestId,
            partial(_read_request, service.reader, serviceRequestId),
            lambda reader: _read_request(reader, serviceRequestId),
        )
        if found is None or found[0].office != caller.client.office:
            raise Problem("not-found", detail=f"no service request {serviceRequestId!r} for this office")
        sr, body = found
        return negotiated(
            request,
            xml=body,
            as_json=lambda: request_status_json(_request_view(sr)),
            headers={"Cache-Control": "no-cache"},
            etag=sr.etag,
            if_none_match=True,
        )
