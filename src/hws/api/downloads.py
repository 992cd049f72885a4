"""Serving immutable blobs: ETag (sha256), Range/If-Range (206, 416), If-None-Match
(304), Repr-Digest (RFC 9530), streamed in large chunks from the blob store."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hws.api.problems import Problem

CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)  # ASCII digits only (RFC 9110 DIGIT), fullmatch


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags or "*" in tags


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """One byte range (inclusive) or ``None`` for the whole file; several ranges are
    answered with the whole file (allowed by RFC 9110 §14.2)."""
    if not header or "," in header:
        return None
    match = _RANGE.fullmatch(header.strip(" \t"))
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0:
            raise Problem("range-not-satisfiable", headers={"Content-Range": f"bytes */{size}"})
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise Problem("range-not-satisfiable", detail=f"the file has {size} bytes", headers={"Content-Range": f"bytes */{size}"})
    return start, end


async def _chunks(open_file: Callable[[str], BinaryIO], sha256: str, start: int, end: int) -> AsyncIterator[bytes]:
    handle = await run_in_threadpool(open_file, sha256)
    try:
        await run_in_threadpool(handle.seek, start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = await run_in_threadpool(handle.read, min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()  # not awaited: must also run when the response is cancelled


def blob_response(
    request: Request,
    service: Any,
    *,
    sha256: str,
    size: int,
    filename: str,
    media_type: str = "application/zip",
    open_file: Callable[[str], BinaryIO] | None = None,
) -> Response:
    """The blob's bytes, or a 304, 206, 416 or a redirect to object storage.

    ``open_file``: for a file that may not be a blob of its own (a package's file kept
    inside its package, :class:`hws.store.packed_files.StoredFiles`): read through it and
    served by us, never redirected."""
    etag = f'"{sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:",
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    wanted = _range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if wanted is not None and if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's copy is of another file: send the whole new one
    if request.method == "HEAD":
        return Response(status_code=200, headers={**headers, "Content-Length": str(size)}, media_type=media_type)
    url = None
    if open_file is None and service.settings.s3_presign_downloads and (if_range is None or wanted is not None):
        # Object storage serves the bytes (Range included). Our ETag and Repr-Digest ride
        # on the redirect for the client to verify; the store's own ETag is not sha256.
        # A stale If-Range is settled here (the whole file, from us): S3 cannot judge it.
        url = service.blobs.presigned_url(
            sha256, expires=service.settings.s3_presign_seconds, filename=filename, media_type=media_type
        )
    if url is not None:
        redirect = {k: v for k, v in headers.items() if k != "Accept-Ranges"}
        return Response(status_code=307, headers={**redirect, "Location": url, "Cache-Control": "private, no-store"})
    opener = open_file or service.blobs.open
    if wanted is None:
        return StreamingResponse(
            _chunks(opener, sha256, 0, size - 1), headers={**headers, "Content-Length": str(size)}, media_type=media_type
        )
    start, end = wanted
    return StreamingResponse(
        _chunks(opener, sha256, start, end),
        status_code=206,
        headers={**headers, "Content-Length": str(end - start + 1), "Content-Range": f"bytes {start}-{end}/{size}"},
        media_type=media_type,
    )
