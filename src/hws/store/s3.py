"""S3-compatible blob store (AWS S3, MinIO, Ceph RGW, moto …) behind :class:`BlobStore`.

Layout inside the bucket (``prefix`` defaults to ``hws/``)::

    <prefix>sha256/ab/cd/<sha256>   immutable blobs, content-addressed
    <prefix>tmp/<random>            uploads in flight (multipart) and their completed
                                    temporary object, until it is copied into place

Writing. A :class:`S3BlobWriter` hashes as it streams and buffers at most one part
(``part_size``, 8 MiB by default) in memory. A blob that stays below one part is sent
with a single ``PutObject`` straight to its content address at :meth:`~S3BlobWriter.commit`
(the hash is known by then). A larger one becomes a multipart upload under a temporary
key, one part each time the buffer fills; :meth:`~S3BlobWriter.commit` completes it,
copies it server-side to its content address (``CopyObject`` up to 5 GiB, a multipart
``UploadPartCopy`` above — no bytes go back through this process) and deletes the
temporary object. Copying is the only way: the address is known only once the last byte
is hashed, and S3 has no rename. Once ``commit`` returns the blob is durable (S3
acknowledges a write only once it is stored). :meth:`~S3BlobWriter.abort` aborts the
multipart upload.

Identical content lands on the same key: a second upload overwrites the first with the
same bytes, which also refreshes its ``LastModified`` — so a kept duplicate is never
mistaken for an old orphan by the sweeper (the filesystem store touches its file for
the same reason).

Reading. :meth:`S3BlobStore.open` returns :class:`S3BlobReader`, a seekable read-only
file object over ranged ``GetObject`` calls: ``zipfile`` (the package validator) and the
Range downloads read only what they need. Sequential reads grow the fetched window
(256 KiB doubling to 8 MiB), a seek elsewhere starts small again, so both the zip
central directory walk and a straight download cost few requests and bounded memory.

Sweeping. There is no lock shared between machines: :meth:`S3BlobStore.referencing`
is a no-op and :meth:`S3BlobStore.sweeping` always yields ``True``. The sweeper relies on
its grace period instead: a blob is written moments before the row that references it
is committed, so only a blob older than the grace can be taken, and a re-put duplicate
has a fresh timestamp. ``delete(sha, older_than=t)`` re-reads the timestamp just before
deleting and keeps a blob refreshed since it was listed; the remaining window (one
round trip between that check and the delete, overlapping a re-upload of the very same
content whose row commits in that instant) is accepted. :meth:`S3BlobStore.sweep_temporary`
aborts multipart uploads with no part written since the cutoff and deletes temporary
objects older than it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from hws.store.blobs import BlobNotFound, BlobRef, _check_hex, write_all

if TYPE_CHECKING:
    from hws.config import Settings

MiB = 1024 * 1024
GiB = 1024 * MiB
#: S3's limits: parts of 5 MiB at least (but the last), 10,000 parts, 5 GiB per CopyObject.
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
COPY_LIMIT = 5 * GiB
DEFAULT_PART_SIZE = 8 * MiB
COPY_PART_SIZE = 512 * MiB

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND


def _md5(data: bytes) -> str:
    """``Content-MD5``: every S3-compatible store checks it, so a part damaged on the
    way is refused rather than stored."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class S3BlobWriter:
    """Streams one blob into the bucket; see the module docstring. (Uploads call
    :meth:`write` from their writer thread, never on the event loop.)"""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self._hash = hashlib.sha256()
        self.size = 0
        self._buffer = bytearray()
        self._temp_key = f"{store.prefix}tmp/{secrets.token_hex(16)}"
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._closed = False

    # Streaming ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        assert not self._closed, "writer already closed"
        self._hash.update(data)
        self.size += len(data)
        self._buffer += data
        part_size = self._store.part_size
        while len(self._buffer) >= part_size:
            with memoryview(self._buffer) as view:
                part = bytes(view[:part_size])
            del self._buffer[:part_size]
            self._upload_part(part)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def digest(self) -> bytes:
        return self._hash.digest()

    def _upload_part(self, body: bytes) -> None:
        store = self._store
        if len(self._parts) >= MAX_PARTS:
            raise ValueError(f"blob larger than {MAX_PARTS} parts of {store.part_size} bytes")
        if self._upload_id is None:
            created = store.client.create_multipart_upload(Bucket=store.bucket, Key=self._temp_key)
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        answer = store.client.upload_part(
            Bucket=store.bucket, Key=self._temp_key, UploadId=self._upload_id, PartNumber=number,
            Body=body, ContentMD5=_md5(body),
        )  # fmt: skip
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    # Ending ------------------------------------------------------------------------

    def commit(self) -> BlobRef:
        assert not self._closed, "writer already closed"
        store = self._store
        sha = self._hash.hexdigest()
        final = store.key_for(sha)
        if self._upload_id is None:
            # One part or less: the address is known, put it there directly.
            body = bytes(self._buffer)
            store.client.put_object(Bucket=store.bucket, Key=final, Body=body, ContentMD5=_md5(body))
            self._buffer.clear()
            self._closed = True
            return BlobRef(sha, self.size)
        if self._buffer:
            self._upload_part(bytes(self._buffer))
            self._buffer.clear()
        store.client.complete_multipart_upload(
            Bucket=store.bucket, Key=self._temp_key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )
        self._upload_id = None
        try:
            stored = store.client.head_object(Bucket=store.bucket, Key=self._temp_key)["ContentLength"]
            if stored != self.size:
                raise OSError(f"S3 stored {stored} bytes of a {self.size}-byte blob")
            store.copy(self._temp_key, final, self.size)
        finally:
            self._closed = True
            store.client.delete_object(Bucket=store.bucket, Key=self._temp_key)
        return BlobRef(sha, self.size)

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._closed:
            return
        self._closed = True
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._store.client.abort_multipart_upload(Bucket=self._store.bucket, Key=self._temp_key, UploadId=upload_id)
            except ClientError as exc:
                if not _missing(exc):
                    raise


class S3BlobReader(io.BufferedIOBase):
    """Seekable, read-only view of one object through ranged GETs.

    ``read(n)`` returns ``n`` bytes unless the end is reached (as a regular file does);
    at most one window (``max_window``) is kept beyond what the caller asked for."""

    def __init__(
        self, client: Any, bucket: str, key: str, size: int, *, min_window: int = 256 * 1024, max_window: int = 8 * MiB
    ) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size = size
        self._pos = 0
        self._cache = b""
        self._cache_start = 0
        self._fetched_end = -1  # end of the last GET: a fetch starting there is sequential
        self._min_window = min_window
        self._max_window = max(max_window, min_window)
        self._window = min_window
        self.requests = 0  # ranged GETs issued and bytes they brought (for tests and metrics)
        self.fetched = 0

    @property
    def name(self) -> str:
        return self._key

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise OSError(22, "negative seek position")
        self._pos = target
        return target

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _get(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive)."""
        self.requests += 1
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{end - 1}")
        except ClientError as exc:
            if _missing(exc):
                raise BlobNotFound(self._key) from None
            raise
        with answer["Body"] as body:
            data: bytes = body.read()
        if len(data) != end - start:
            raise OSError(f"{self._key}: asked for {end - start} bytes at {start}, got {len(data)}")
        self.fetched += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        remaining = self._size - self._pos
        if size is None or size < 0 or size > remaining:
            size = max(remaining, 0)
        if size == 0:
            return b""
        pieces: list[bytes] = []
        while size > 0:
            offset = self._pos - self._cache_start
            if 0 <= offset < len(self._cache):
                piece = self._cache[offset : offset + size]
            else:
                if self._pos == self._fetched_end:
                    self._window = min(self._window * 2, self._max_window)
                else:
                    self._window = self._min_window
                end = min(self._pos + max(size, self._window), self._size)
                data = self._get(self._pos, end)
                self._fetched_end = end
                if len(data) > size:
                    self._cache, self._cache_start = data, self._pos
                    piece = data[:size]
                else:
                    self._cache, self._cache_start = b"", 0
                    piece = data
            pieces.append(piece)
            self._pos += len(piece)
            size -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._cache = b""
        super().close()


class S3BlobStore:
    """Blobs in ``bucket`` under ``prefix``; ``client`` is a boto3 S3 client (thread-safe,
    shared by every request)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "hws/",
        *,
        part_size: int = DEFAULT_PART_SIZE,
        copy_limit: int = COPY_LIMIT,
        copy_part_size: int = COPY_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum part)")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self.copy_limit = copy_limit
        self.copy_part_size = copy_part_size

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        """Credentials come from boto3's usual chain (environment, profile, instance role)."""
        if not settings.s3_bucket:
            raise ValueError("HWS_BLOB_STORE=s3 needs HWS_S3_BUCKET")
        config = Config(
            # Path-style addressing for custom endpoints (MinIO, moto, Ceph): no bucket DNS.
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=32,
            # Integrity is Content-MD5 per request and our own sha256; the newer default
            # CRC checksums are not understood by every S3-compatible store.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session()
        client = session.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region, config=config)
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    # Keys --------------------------------------------------------------------------

    def key_for(self, sha256: str) -> str:
        _check_hex(sha256)
        return f"{self.prefix}sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    @property
    def temp_prefix(self) -> str:
        return f"{self.prefix}tmp/"

    # Writing -----------------------------------------------------------------------

    def writer(self) -> S3BlobWriter:
        return S3BlobWriter(self)

    def put_bytes(self, data: bytes) -> BlobRef:
        return write_all(self.writer(), data)

    def put_many(self, items: Sequence[bytes]) -> list[BlobRef]:
        """Each item as its own object (an S3 PUT is durable when it answers)."""
        return [self.put_bytes(data) for data in items]

    def copy(self, source: str, target: str, size: int) -> None:
        """Server-side copy: one ``CopyObject`` up to ``copy_limit`` (S3: 5 GiB), else a
        multipart upload of ``UploadPartCopy`` ranges."""
        source_ref = {"Bucket": self.bucket, "Key": source}
        if size <= self.copy_limit:
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource=source_ref)
            return
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=target)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, self.copy_part_size), start=1):
                end = min(start + self.copy_part_size, size) - 1
                answer = self.client.upload_part_copy(
                    Bucket=self.bucket, Key=target, UploadId=upload_id, PartNumber=number,
                    CopySource=source_ref, CopySourceRange=f"bytes={start}-{end}",
                )  # fmt: skip
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload_id)
            raise

    # Reading -----------------------------------------------------------------------

    def _head(self, sha256: str) -> dict[str, Any]:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if _missing(exc):
                raise BlobNotFound(sha256) from None
            raise
        return head

    def open(self, sha256: str) -> BinaryIO:
        size = int(self._head(sha256)["ContentLength"])
        # a buffered binary reader: the file interface BlobStore.open promises
        return cast(BinaryIO, S3BlobReader(self.client, self.bucket, self.key_for(sha256), size))

    def open_span(self, sha256: str, offset: int, length: int) -> BinaryIO:
        """Ranged GETs of the span only, and no HEAD first: a small file kept inside its
        package is one GET."""
        _check_hex(sha256)
        return cast(BinaryIO, S3BlobReader(self.client, self.bucket, self.key_for(sha256), offset + length))

    def local_path(self, sha256: str) -> None:
        _check_hex(sha256)
        return None

    def exists(self, sha256: str) -> bool:
        try:
            self._head(sha256)
        except BlobNotFound:
            return False
        return True

    def size(self, sha256: str) -> int:
        return int(self._head(sha256)["ContentLength"])

    def presigned_url(self, sha256: str, *, expires: int, filename: str | None = None, media_type: str | None = None) -> str:
        """A time-limited GET URL for the blob (publication downloads redirect to it)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key_for(sha256)}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        if media_type:
            params["ResponseContentType"] = media_type
        url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
        return url

    # Listing and deleting ----------------------------------------------------------

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def list_blobs(self) -> Iterator[tuple[str, float]]:
        for item in self._objects(f"{self.prefix}sha256/"):
            name = item["Key"].rsplit("/", 1)[-1]
            if len(name) == 64:
                yield name, item["LastModified"].timestamp()

    def delete(self, sha256: str, *, older_than: float | None = None) -> None:
        """Delete the blob (missing: nothing to do). With ``older_than``, only if its
        timestamp is still older than that — a duplicate re-put since it was listed stays."""
        key = self.key_for(sha256)
        if older_than is not None:
            try:
                modified: datetime = self._head(sha256)["LastModified"]
            except BlobNotFound:
                return
            if modified.timestamp() >= older_than:
                return
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def sweep_temporary(self, older_than: float) -> int:
        """Abort multipart uploads idle since before ``older_than`` (started then and no
        part written since) and delete temporary objects older than it."""
        removed = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.temp_prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() >= older_than:
                    continue
                if self._last_part_written(upload["Key"], upload["UploadId"]) >= older_than:
                    continue  # a slow upload still making progress
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                except ClientError as exc:
                    if not _missing(exc):
                        raise
                    continue
                removed += 1
        for item in self._objects(self.temp_prefix):
            if item["LastModified"].timestamp() < older_than:
                self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                removed += 1
        return removed

    def _last_part_written(self, key: str, upload_id: str) -> float:
        latest = 0.0
        try:
            paginator = self.client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                for part in page.get("Parts", []):
                    latest = max(latest, part["LastModified"].timestamp())
        except ClientError as exc:
            if not _missing(exc):
                raise
        return latest

    # Sweeper coordination ----------------------------------------------------------

    @contextmanager
    def referencing(self) -> Iterator[None]:
        """No lock spans machines: the sweeper's grace period protects fresh blobs."""
        yield

    @contextmanager
    def sweeping(self) -> Iterator[bool]:
        """Always granted; see the module docstring (grace period, refreshed duplicates)."""
        yield True

    @contextmanager
    def staging(self) -> Iterator[BinaryIO]:
        """An anonymous local file (the system's temporary folder): gone when closed, and
        with the process after a crash; nothing of the bucket's is used for it."""
        with tempfile.TemporaryFile(suffix=".part") as handle:
            yield cast(BinaryIO, handle)
