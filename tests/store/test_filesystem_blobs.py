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
