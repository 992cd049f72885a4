"""Streaming request bodies into a blob writer: raw ``application/zip`` or
``multipart/form-data`` with exactly one file. Never holds the body in memory; stops
at the size limit."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from hws.api.problems import Problem
from hws.store.blobs import BlobWriter

ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/octet-stream"}
MAX_FORM_FIELD_BYTES = 64 * 1024
OFF_LOOP_BATCH = 1024 * 1024
_DIGEST_ITEM = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*$")


def too_large(limit: int) -> Problem:
    return Problem("payload-too-large", detail=f"the package exceeds the limit of {limit} bytes; nothing was stored")


def expected_sha256(header: str | None) -> bytes | None:
    """The sha-256 of an RFC 9530 ``Content-Digest`` header, ``None`` if it has none."""
    if not header:
        return None
    for item in header.split(","):
        match = _DIGEST_ITEM.match(item)
        if not match:
            raise Problem("invalid-request", detail="Content-Digest is not an RFC 9530 dictionary (sha-256=:base64:)")
        if match.group(1).lower() == "sha-256":
            try:
                value = base64.b64decode(match.group(2), validate=True)
            except ValueError:
                raise Problem("invalid-request", detail="Content-Digest sha-256 value is not base64") from None
            if len(value) != 32:
                raise Problem("invalid-request", detail="Content-Digest sha-256 value must be 32 bytes")
            return value
    return None  # only algorithms we do not support: ignored (RFC 9530 §2)


async def _bounded(request: Request, limit: int, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
    """The body's chunks, cut at ``limit`` bytes (413) and after ``idle_timeout`` seconds
    without data (408: a stalled or deliberately slow client does not hold a slot forever)."""
    received = 0
    stream = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout(idle_timeout):  # cheaper than wait_for: no task per chunk
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Problem("request-timeout", detail=f"no data received for {idle_timeout:.0f} s; nothing was stored") from None
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        if chunk:
            yield chunk


async def receive(request: Request, writer: BlobWriter, limit: int, idle_timeout: float | None = None) -> None:
    """Stream the package in ``request`` into ``writer`` or raise a :class:`Problem`."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    media = content_type.decode("latin-1").lower()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    if media in ZIP_TYPES:
        if getattr(writer, "blocking_io", False):
            await _receive_off_loop(request, writer, limit, idle_timeout)
        else:
            async for chunk in _bounded(request, limit, idle_timeout):
                writer.write(chunk)
    elif media == "multipart/form-data":
        await _receive_multipart(request, writer, limit, params.get(b"boundary"), idle_timeout)
    else:
        raise Problem(
            "unsupported-media-type",
            detail="send the package as application/zip, or as multipart/form-data with one file",
        )
    if writer.size == 0:
        raise Problem("invalid-request", detail="the request body is empty: send the package ZIP")


async def _receive_off_loop(request: Request, writer: BlobWriter, limit: int, idle_timeout: float | None) -> None:
    """For writers whose writes block (network object stores): gather about 1 MiB, then
    write it in a worker thread, so other requests keep being served meanwhile."""
    pending: list[bytes] = []
    size = 0
    async for chunk in _bounded(request, limit, idle_timeout):
        pending.append(chunk)
        size += len(chunk)
        if size >= OFF_LOOP_BATCH:
            await run_in_threadpool(writer.write, b"".join(pending))
            pending, size = [], 0
    if pending:
        await run_in_threadpool(writer.write, b"".join(pending))


async def _receive_multipart(
    request: Request, writer: BlobWriter, limit: int, boundary: bytes | None, idle_timeout: float | None
) -> None:
    if not boundary:
        raise Problem("invalid-request", detail="multipart/form-data without a boundary")
    state = {"in_file": False, "files": 0, "field_bytes": 0, "header_field": b"", "disposition": b""}

    def on_part_begin() -> None:
        state["disposition"] = b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_field"] = data[start:end].lower()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        if state["header_field"] == b"content-disposition":
            state["disposition"] += data[start:end]

    def on_headers_finished() -> None:
        _, options = parse_options_header(state["disposition"])
        state["in_file"] = b"filename" in options
        if state["in_file"]:
            state["files"] += 1
            if state["files"] > 1:
                raise Problem("invalid-request", detail="send exactly one file in the multipart body")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"]:
            writer.write(data[start:end])
        else:
            state["field_bytes"] += end - start
            if state["field_bytes"] > MAX_FORM_FIELD_BYTES:
                raise Problem("invalid-request", detail="form fields other than the file are too large")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        async for chunk in _bounded(request, limit, idle_timeout):
            parser.write(chunk)
        parser.finalize()
    except Problem:
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several error types
        raise Problem("invalid-request", detail=f"malformed multipart body: {exc}") from None
    if state["files"] == 0:
        raise Problem("invalid-request", detail="the multipart body holds no file: send the package as a file part")
