"""Blob stores: immutable, content-addressed (sha256) objects.

:class:`FilesystemBlobStore` is the embedded default. A write goes to a temporary file
under ``tmp/``, is hashed as it streams, fsynced, renamed to ``sha256/ab/cd/<hash>``
and its folder fsynced: once :meth:`BlobWriter.commit` returns, the blob survives a
crash. A blob is referenced from the database (table ``blobs``) in the transaction
that uses it; :func:`sweep_orphans` removes temporary files and unreferenced blobs left
by a crash between the two.

Sweeping never races a live upload: a writer holds a shared lock on its temporary file
while it is open, and code between "blob committed" and "row committed" holds
:meth:`FilesystemBlobStore.referencing` (a shared lock) that the sweeper's
:meth:`FilesystemBlobStore.sweeping` (exclusive) waits for.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size: int


class BlobNotFound(KeyError):
    pass


class BlobWriter(Protocol):
    size: int

    def write(self, data: bytes) -> None: ...

    def hexdigest(self) -> str: ...

    def digest(self) -> bytes: ...

    def commit(self) -> BlobRef: ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...

    def put_bytes(self, data: bytes) -> BlobRef: ...

    def put_many(self, items: Sequence[bytes]) -> list[BlobRef]:
        """Store every item (as :meth:`put_bytes` would, each durable when this returns),
        in as few flushes to the device as the store can do it."""
        ...

    def open(self, sha256: str) -> BinaryIO: ...

    def open_span(self, sha256: str, offset: int, length: int) -> BinaryIO:
        """The blob for reading ``length`` bytes from ``offset`` (a file kept inside a
        package): seekable; what lies beyond the span may not be readable."""
        ...

    def local_path(self, sha256: str) -> Path | None: ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...

    def list_blobs(self) -> Iterator[tuple[str, float]]: ...

    def delete(self, sha256: str, *, older_than: float | None = None) -> None: ...

    def sweep_temporary(self, older_than: float) -> int: ...

    def referencing(self) -> AbstractContextManager[None]: ...

    def sweeping(self) -> AbstractContextManager[bool]: ...

    def staging(self) -> AbstractContextManager[BinaryIO]:
        """A scratch file (read-write, seekable) for building something before it is
        stored with :meth:`writer`; removed when the block ends (or by the sweep of
        temporary files, after a crash)."""
        ...

    def presigned_url(
        self, sha256: str, *, expires: int, filename: str | None = None, media_type: str | None = None
    ) -> str | None:
        """A time-limited URL from which a client downloads the blob itself, or ``None``
        where the store cannot give one (the service then sends the bytes)."""
        ...


def write_all(writer: BlobWriter, data: bytes) -> BlobRef:
    """Store ``data`` through ``writer``: committed, or aborted on any error."""
    try:
        writer.write(data)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _check_hex(sha256: str) -> str:
    if _SHA256_HEX.fullmatch(sha256) is None:
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


def _linux_call(name: str, *argtypes: type[ctypes._SimpleCData[Any]]) -> Any:
    """The C library's ``name`` (a Linux system call :mod:`os` lacks), returning an int
    (0 or -1 with ``errno``), or ``None`` elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function


#: ``sync_file_range(2)``: start or wait for the writeback of a byte range
_SYNC_FILE_RANGE = cast(
    Callable[[int, int, int, int], int] | None,
    _linux_call("sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint),
)
#: ``syncfs(2)``: every dirty page and inode of one file system written and waited for
#: (the journal committed)
_SYNCFS = cast(Callable[[int], int] | None, _linux_call("syncfs", ctypes.c_int))
_SYNC_WRITE = 2  # SYNC_FILE_RANGE_WRITE: start writeback of the range's dirty pages
_SYNC_WAIT = 1 | 2 | 4  # WAIT_BEFORE | WRITE | WAIT_AFTER: the range is on the device
_NOT_SUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ESPIPE})


def _sync_range(fd: int, offset: int, length: int, flags: int) -> None:
    assert _SYNC_FILE_RANGE is not None
    if _SYNC_FILE_RANGE(fd, offset, length, flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


class FilesystemWriter:
    """One blob being written: temporary file, sha-256 as it streams, atomic commit.

    Large blobs are written back as they arrive: every :data:`WRITEBACK_BYTES` the
    writer starts the device write of the window just filled, waits for the previous
    window and drops it from the page cache. So a 1 GiB upload holds a few MiB of
    dirty pages instead of a gigabyte, a slow disk slows the upload (not the whole
    machine's memory), and the fsync of :meth:`commit` has only the tail left to write.
    The final fsync is still what makes the blob durable.

    Writes, commit and abort may come from different threads, one at a time; a lock
    makes an abort wait for a write in progress.
    """

    #: write-behind window (Linux); 0 turns write-behind off
    WRITEBACK_BYTES = 8 * 1024 * 1024

    def __init__(self, store: FilesystemBlobStore) -> None:
        self._store = store
        self._hash = hashlib.sha256()
        self._lock = threading.Lock()
        self._write_behind = bool(self.WRITEBACK_BYTES) and _SYNC_FILE_RANGE is not None
        self.size = 0
        self._started = 0  # bytes whose writeback was started
        self._settled = 0  # bytes on the device and out of the page cache
        self._tmp = store.tmp_dir / f"{secrets.token_hex(12)}.part"
        self._fd: int | None = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        fcntl.flock(self._fd, fcntl.LOCK_SH)  # "in use": the sweeper leaves it alone

    def write(self, data: bytes) -> None:
        with self._lock:
            fd = self._fd
            assert fd is not None, "writer already closed"
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            self._hash.update(data)
            self.size += len(data)
            if self._write_behind:
                try:
                    self._write_back(fd)
                except OSError as exc:
                    if exc.errno not in _NOT_SUPPORTED:
                        raise
                    self._write_behind = False  # a filesystem without it: fsync does it all

    def _write_back(self, fd: int) -> None:
        window = self.WRITEBACK_BYTES
        while self.size - self._started >= window:
            _sync_range(fd, self._started, window, _SYNC_WRITE)
            if self._started > self._settled:
                length = self._started - self._settled
                _sync_range(fd, self._settled, length, _SYNC_WAIT)
                os.posix_fadvise(fd, self._settled, length, os.POSIX_FADV_DONTNEED)
                self._settled = self._started
            self._started += window

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def digest(self) -> bytes:
        return self._hash.digest()

    def commit(self) -> BlobRef:
        with self._lock:
            assert self._fd is not None, "writer already closed"
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        sha = self._hash.hexdigest()
        final = self._store.path_for(sha)
        try:
            # Same content already stored: keep that copy, but mark it fresh so a sweep
            # (which only takes files older than its grace) does not see an old orphan.
            os.utime(final)
            self._tmp.unlink(missing_ok=True)
        except FileNotFoundError:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, final)
            _fsync_dir(final.parent)
        return BlobRef(sha, self.size)

    def abort(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._tmp.unlink(missing_ok=True)


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.objects = root / "sha256"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.objects.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def staging(self) -> Iterator[BinaryIO]:
        """Under ``tmp/`` (same file system; a crash leaves it to :meth:`sweep_temporary`)."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, suffix=".part")
        try:
            with os.fdopen(fd, "w+b") as handle:
                yield handle
        finally:
            Path(name).unlink(missing_ok=True)

    def presigned_url(
        self, sha256: str, *, expires: int, filename: str | None = None, media_type: str | None = None
    ) -> str | None:
        return None  # files on disk have no URL: the service streams them

    def path_for(self, sha256: str) -> Path:
        _check_hex(sha256)
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def writer(self) -> FilesystemWriter:
        return FilesystemWriter(self)

    def put_bytes(self, data: bytes) -> BlobRef:
        return write_all(self.writer(), data)

    #: below this many new files a batch is stored file by file (two fsyncs each). Two
    #: files by two syncfs took 4.1 ms against 6.0 ms by four fsyncs here (median of 60, a
    #: busy shared disk); one file is two flushes either way, and fsync flushes only it.
    BATCH_MIN = 2

    def put_many(self, items: Sequence[bytes]) -> list[BlobRef]:
        """The files of a package, stored in one batch: each is written to a temporary file,
        one ``syncfs`` puts them all on the device, they are renamed into place, and a
        second ``syncfs`` makes the renames durable — two flushes for the batch instead of
        two fsyncs per file. A file at a blob's path is whole, always (it is renamed there
        only once its bytes are on the device). Where ``syncfs`` is missing, or for a
        batch of one new file, it is stored as :meth:`put_bytes` does."""
        refs: list[BlobRef] = []
        new: dict[str, bytes] = {}
        for data in items:
            sha = hashlib.sha256(data).hexdigest()
            refs.append(BlobRef(sha, len(data)))
            if sha in new:
                continue
            try:
                os.utime(self.path_for(sha))  # already stored (whole and durable): kept fresh for the sweeper
            except FileNotFoundError:
                new[sha] = data
        if _SYNCFS is None or len(new) < self.BATCH_MIN:
            for data in new.values():
                self.put_bytes(data)
            return refs
        staged: list[tuple[Path, Path]] = []
        try:
            for sha, data in new.items():
                tmp = self.tmp_dir / f"{secrets.token_hex(12)}.part"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                staged.append((tmp, self.path_for(sha)))
            self._syncfs()  # the bytes are on the device
            for tmp, final in staged:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
            self._syncfs()  # and so are the names
        except BaseException:
            for tmp, _final in staged:
                tmp.unlink(missing_ok=True)
            raise
        return refs

    def _syncfs(self) -> None:
        assert _SYNCFS is not None
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _SYNCFS(fd) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"syncfs: {os.strerror(code)}", str(self.root))
        finally:
            os.close(fd)

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path_for(sha256), "rb")  # the caller closes it
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def open_span(self, sha256: str, offset: int, length: int) -> BinaryIO:
        return self.open(sha256)  # a seek away on disk

    def local_path(self, sha256: str) -> Path | None:
        path = self.path_for(sha256)
        return path if path.exists() else None

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).exists()

    def size(self, sha256: str) -> int:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def list_blobs(self) -> Iterator[tuple[str, float]]:
        for path in self.objects.glob("*/*/*"):
            if len(path.name) == 64:
                yield path.name, path.stat().st_mtime

    def delete(self, sha256: str, *, older_than: float | None = None) -> None:
        """Delete the blob; with ``older_than``, only if it was not refreshed since."""
        path = self.path_for(sha256)
        try:
            if older_than is not None and path.stat().st_mtime >= older_than:
                return
            path.unlink()
        except FileNotFoundError:
            return

    def sweep_temporary(self, older_than: float) -> int:
        """Delete abandoned temporary files: older than ``older_than`` and not held open."""
        removed = 0
        for path in self.tmp_dir.glob("*.part"):
            try:
                if path.stat().st_mtime >= older_than:
                    continue
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a writer still has it open
            finally:
                os.close(fd)
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    @contextmanager
    def _lock(self, mode: int) -> Iterator[bool]:
        with open(self.root / ".sweep.lock", "a+") as handle:
            try:
                fcntl.flock(handle, mode)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def referencing(self) -> Iterator[None]:
        """Hold while committing the rows that reference blobs just written."""
        with self._lock(fcntl.LOCK_SH):
            yield

    @contextmanager
    def sweeping(self) -> Iterator[bool]:
        """Exclusive against :meth:`referencing`; yields ``False`` when busy (try later)."""
        with self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB) as got:
            yield got

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free
