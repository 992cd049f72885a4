"""Files kept inside their package: a package's files are not copied out of it.

A received package is already stored, durably and addressed by its digest, before its
``202``. When it is imported, each of its files is recorded as a ``blobs`` row that says
where the file's bytes lie in the package — ``packed_in`` (the package's digest),
``packed_offset``, ``packed_size`` and ``packed_method`` (0 stored, 8 deflated), as the
validation read them — instead of being written, fsynced and renamed into the blob store
as a file of its own. Files stay addressed by their own SHA-256 everywhere else.

:class:`StoredFiles` opens a stored file by its digest, wherever its bytes are: a packed
file is read from its package (a seek on disk, ranged GETs of its span alone on S3), inflated as it is
read, and its SHA-256 checked when read to the end — bytes that differ raise, never pass.
A blob with no row, or a row without a span, is a file of its own in the blob store.

The package stays referenced by its own ``blobs`` row (written at intake), so the
orphan sweeper never takes it; rows are never deleted.
"""

from __future__ import annotations

import errno
import hashlib
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, cast

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from hws.st96.zipsafe import EntrySpan
from hws.store.blobs import BlobStore
from hws.store.tables import blobs

STORED, DEFLATED = 0, 8
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class PackedFile:
    """One file of a package, as recorded: its digest and size, and its span in the package."""

    sha256: str
    size: int
    span: EntrySpan


# Built once per dialect: a row per file, kept as it is when the digest has a row already
# (a file of its own, or a span in an earlier package: either reads the same bytes).
_RECORD = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(blobs).on_conflict_do_nothing() for dialect in (postgresql, sqlite)
}
_LOCATE = select(blobs.c.size, blobs.c.packed_in, blobs.c.packed_offset, blobs.c.packed_size, blobs.c.packed_method).where(
    blobs.c.sha256 == bindparam("sha256")
)


def record(conn: Connection, package: str, files: Sequence[PackedFile], now: datetime) -> None:
    """Record ``files`` as kept inside ``package`` (a blob with a row of its own), in one
    statement, in digest order (two transactions recording the same files take their row
    locks in the same order on PostgreSQL)."""
    unique = {f.sha256: f for f in files}
    rows = [
        {
            "sha256": f.sha256,
            "size": f.size,
            "created_at": now,
            "packed_in": package,
            "packed_offset": f.span.offset,
            "packed_size": f.span.size,
            "packed_method": f.span.method,
        }
        for _sha, f in sorted(unique.items())
    ]
    if rows:
        conn.execute(_RECORD[conn.dialect.name], rows)


def locate(conn: Connection, sha256: str) -> tuple[str, PackedFile] | None:
    """The package holding the file, and the file there; None for a file of its own (or
    no row at all)."""
    row = conn.execute(_LOCATE, {"sha256": sha256}).first()
    if row is None or row.packed_in is None:
        return None
    return row.packed_in, PackedFile(sha256, row.size, EntrySpan(row.packed_offset, row.packed_size, row.packed_method))


class StoredFileCorrupt(OSError):
    """A stored file read back with other bytes than those recorded."""


class _PackedReader(io.RawIOBase):
    """The bytes of one file inside a package: inflated as read, checked at the end.

    Seekable: forward by reading on, backward by starting over (downloads with a
    ``Range`` seek once, forward). The SHA-256 is checked whenever the file has been read
    through from its start; a short or different file raises :class:`StoredFileCorrupt`."""

    def __init__(self, package: BinaryIO, file: PackedFile) -> None:
        if file.span.method not in (STORED, DEFLATED):
            package.close()
            raise StoredFileCorrupt(errno.EIO, f"stored file {file.sha256}: unknown method {file.span.method}")
        self._package, self._span, self._sha256, self._size = package, file.span, file.sha256, file.size
        self._start()

    def _start(self) -> None:
        self._package.seek(self._span.offset)
        self._left = self._span.size  # package bytes still to read
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if self._span.method == DEFLATED else None
        self._pending = b""
        self._pos = 0
        self._hash = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset, io.SEEK_END: self._size + offset}[whence]
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target < self._pos:
            self._start()
        while self._pos < target and self._fill():
            take = min(len(self._pending), target - self._pos)
            self._take(take)
        return self._pos

    def _fill(self) -> bool:
        """Have pending bytes (at most a chunk: inflated in bounded steps), unless the file
        is at its end (then check it)."""
        while not self._pending:
            if self._inflater is not None and self._inflater.unconsumed_tail:
                self._pending = self._inflater.decompress(self._inflater.unconsumed_tail, _CHUNK)
                continue
            if self._left == 0:
                tail = self._inflater.flush() if self._inflater is not None else b""
                self._inflater = None
                if tail:
                    self._pending = tail
                    break
                self._check()
                return False
            chunk = self._package.read(min(_CHUNK, self._left))
            if not chunk:
                raise StoredFileCorrupt(errno.EIO, f"stored file {self._sha256}: its package ends before the file does")
            self._left -= len(chunk)
            self._pending = self._inflater.decompress(chunk, _CHUNK) if self._inflater is not None else chunk
        return True

    def _take(self, n: int) -> bytes:
        data, self._pending = self._pending[:n], self._pending[n:]
        self._hash.update(data)
        self._pos += len(data)
        if self._pos > self._size:
            raise StoredFileCorrupt(errno.EIO, f"stored file {self._sha256}: longer than its {self._size} bytes")
        return data

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        if self._pos != self._size or self._hash.hexdigest() != self._sha256:
            raise StoredFileCorrupt(
                errno.EIO,
                f"stored file {self._sha256} reads back as {self._pos} bytes with sha-256 {self._hash.hexdigest()}",
            )

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._fill():
            return 0
        data = self._take(min(len(buffer), len(self._pending)))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        parts = []
        while self._fill():
            parts.append(self._take(len(self._pending)))
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._package.close()
        super().close()


class StoredFiles:
    """Opens a stored file by its SHA-256, wherever its bytes are (see the module)."""

    def __init__(self, engine: Engine, blobs: BlobStore) -> None:
        """``engine``: for reads (``Service.reader``: on SQLite, no write lock taken, so a
        file can be opened while this thread's own write transaction is open)."""
        self._engine, self._blobs = engine, blobs

    def locate(self, sha256: str) -> tuple[str, PackedFile] | None:
        with self._engine.connect() as conn:
            return locate(conn, sha256)

    def open(self, sha256: str) -> BinaryIO:
        """A readable, seekable file (the caller closes it); :class:`BlobNotFound` as the
        blob store raises it when neither a span nor a file exists."""
        found = self.locate(sha256)
        if found is None:
            return self._blobs.open(sha256)
        package, file = found
        raw = _PackedReader(self._blobs.open_span(package, file.span.offset, file.span.size), file)
        return cast(BinaryIO, io.BufferedReader(raw, _CHUNK))
