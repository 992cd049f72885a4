"""Sending a package file: its digest (RFC 9530 ``Content-Digest``) and a streamed body.

The file is read twice and never held in memory: a first pass computes the size and the
SHA-256, a second streams it to the server in chunks. A file that changes between the two
passes (or while it is being sent) is an :class:`~hws.client.errors.UploadError`, since the
server would refuse the digest.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hws.client.errors import InvalidArgument, UploadError

CHUNK = 256 * 1024
MEDIA_TYPE = "application/zip"
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")

#: ``progress(bytes_sent, total)``, called before the first chunk and after each one
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FileDigest:
    size: int
    sha256: bytes

    @property
    def hex(self) -> str:
        return self.sha256.hex()

    @property
    def content_digest(self) -> str:
        """The RFC 9530 ``Content-Digest`` field value."""
        return f"sha-256=:{base64.b64encode(self.sha256).decode('ascii')}:"


def file_digest(path: Path) -> FileDigest:
    """Size and SHA-256 of the file, read in chunks."""
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return FileDigest(size, sha.digest())


def upload_headers(digest: FileDigest, idempotency_key: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": MEDIA_TYPE,
        # set explicitly so the body goes with a length (no chunked encoding) and an
        # oversized package can be refused with 413 before it is read
        "Content-Length": str(digest.size),
        "Content-Digest": digest.content_digest,
    }
    if idempotency_key is not None:
        if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise InvalidArgument("the idempotency key must be 1-255 visible ASCII characters (no spaces)")
        headers["Idempotency-Key"] = idempotency_key
    return headers


class _Counter:
    """Counts what has been handed to the HTTP client and checks the file did not change."""

    def __init__(self, path: Path, digest: FileDigest, progress: Progress | None) -> None:
        self.path = path
        self.digest = digest
        self.progress = progress
        self.sent = 0
        self._sha = hashlib.sha256()

    def start(self) -> None:
        if self.progress:
            self.progress(0, self.digest.size)

    def step(self, chunk: bytes) -> bytes:
        self.sent += len(chunk)
        self._sha.update(chunk)
        if self.sent > self.digest.size:
            raise self._changed()
        if self.progress:
            self.progress(self.sent, self.digest.size)
        return chunk

    def finish(self) -> None:
        if self.sent != self.digest.size or self._sha.digest() != self.digest.sha256:
            raise self._changed()

    def _changed(self) -> UploadError:
        return UploadError(f"{self.path} changed while it was being sent; send it again")


def file_body(path: Path, digest: FileDigest, progress: Progress | None = None) -> Iterator[bytes]:
    """The file's bytes in chunks, for ``httpx.Client`` (one fresh iterator per attempt)."""
    counter = _Counter(path, digest, progress)
    with path.open("rb") as fh:
        counter.start()
        while chunk := fh.read(CHUNK):
            yield counter.step(chunk)
    counter.finish()


async def async_file_body(path: Path, digest: FileDigest, progress: Progress | None = None) -> AsyncIterator[bytes]:
    """The twin of :func:`file_body` for ``httpx.AsyncClient``; reads off the event loop."""
    counter = _Counter(path, digest, progress)
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        counter.start()
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield counter.step(chunk)
    finally:
        fh.close()
    counter.finish()
