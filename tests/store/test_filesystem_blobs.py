"""The filesystem blob writer: write-behind windows, filesystems without
``sync_file_range``, and device errors during write-behind."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from hws.store import blobs
from hws.store.blobs import FilesystemBlobStore, FilesystemWriter

KiB = 1024
linux_only = pytest.mark.skipif(blobs._SYNC_FILE_RANGE is None, reason="write-behind needs Linux's sync_file_range")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FilesystemBlobStore:
    monkeypatch.setattr(FilesystemWriter, "WRITEBACK_BYTES", 64 * KiB)  # many windows, small data
    return FilesystemBlobStore(tmp_path / "blobs")


def write_in_pieces(writer: FilesystemWriter, data: bytes, piece: int = 50_000) -> None:
    for i in range(0, len(data), piece):
        writer.write(data[i : i + piece])


def test_written_back_blob_is_whole(store: FilesystemBlobStore) -> None:
    data = os.urandom(1000 * KiB + 3)
    writer = store.writer()
    write_in_pieces(writer, data)
    ref = writer.commit()
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    with store.open(ref.sha256) as f:
        assert f.read() == data
    assert list(store.tmp_dir.iterdir()) == []


@linux_only
def test_filesystem_without_sync_file_range_still_stores(store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    def unsupported(fd: int, offset: int, length: int, flags: int) -> None:
        nonlocal calls
        calls += 1
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(blobs, "_sync_range", unsupported)
    data = os.urandom(500 * KiB)
    writer = store.writer()
    write_in_pieces(writer, data)
    ref = writer.commit()
    assert calls == 1  # tried once, then left to the final fsync
    with store.open(ref.sha256) as f:
        assert f.read() == data


@linux_only
def test_device_error_during_write_behind_is_raised(store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int, offset: int, length: int, flags: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(blobs, "_sync_range", failing)
    writer = store.writer()
    with pytest.raises(OSError) as raised:
        write_in_pieces(writer, os.urandom(500 * KiB))
    assert raised.value.errno == errno.EIO
    writer.abort()
    assert list(store.tmp_dir.iterdir()) == []


def test_staging_is_a_scratch_file_under_tmp_removed_after(store: FilesystemBlobStore) -> None:
    with store.staging() as handle:
        handle.write(b"built here")
        handle.seek(0)
        assert handle.read() == b"built here"
        assert [p.suffix for p in store.tmp_dir.iterdir()] == [".part"]  # swept after a crash
    assert list(store.tmp_dir.iterdir()) == []


def test_staging_is_removed_when_the_build_fails(store: FilesystemBlobStore) -> None:
    with pytest.raises(RuntimeError), store.staging() as handle:
        handle.write(b"half")
        raise RuntimeError("writer failed")
    assert list(store.tmp_dir.iterdir()) == []


def test_files_on_disk_have_no_presigned_url(store: FilesystemBlobStore) -> None:
    ref = store.put_bytes(b"x")
    assert store.presigned_url(ref.sha256, expires=60) is None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_many_stores_a_batch_with_two_flushes_renaming_only_what_is_on_the_device(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [os.urandom(100 + n) for n in range(6)]
    already = store.put_bytes(items[0])
    inode = store.path_for(already.sha256).stat().st_ino
    batch = [*items, items[2]]  # the same bytes twice in one package: stored once
    flushes: list[list[bool]] = []
    real = blobs._SYNCFS
    assert real is not None, "Linux has syncfs"

    def recording(fd: int) -> int:
        flushes.append([store.path_for(_sha(data)).exists() for data in items[1:]])
        return real(fd)

    monkeypatch.setattr(blobs, "_SYNCFS", recording)
    refs = store.put_many(batch)
    assert [(r.sha256, r.size) for r in refs] == [(_sha(d), len(d)) for d in batch]
    assert flushes == [[False] * 5, [True] * 5]  # renamed into place only after the first flush
    assert all(store.path_for(_sha(d)).read_bytes() == d for d in items)
    assert store.path_for(already.sha256).stat().st_ino == inode  # an existing blob is not rewritten
    assert not list(store.tmp_dir.iterdir())


def test_put_many_without_syncfs_or_for_a_few_files_stores_file_by_file(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs, "_SYNCFS", None)
    items = [os.urandom(50) for _ in range(5)]
    assert [r.sha256 for r in store.put_many(items)] == [_sha(d) for d in items]
    assert all(store.path_for(_sha(d)).read_bytes() == d for d in items)

    def never(fd: int) -> int:
        raise AssertionError("a batch of fewer than BATCH_MIN new files is stored file by file")

    monkeypatch.setattr(blobs, "_SYNCFS", never)
    few = [os.urandom(40) for _ in range(FilesystemBlobStore.BATCH_MIN - 1)]
    assert [r.sha256 for r in store.put_many([*items, *few])] == [_sha(d) for d in [*items, *few]]


def test_put_many_failing_midway_leaves_no_partial_blob_and_no_temporary_file(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [os.urandom(80) for _ in range(6)]

    def device_error(fd: int) -> int:
        blobs.ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(blobs, "_SYNCFS", device_error)
    with pytest.raises(OSError, match="syncfs"):
        store.put_many(items)
    assert not any(store.path_for(_sha(d)).exists() for d in items)
    assert not list(store.tmp_dir.iterdir())
