"""A package's files kept inside the stored package: recorded by their spans as the
validation read them, read back from the package (on disk and on S3), checked whole."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from hws.service import Service
from hws.st96.zipsafe import EntrySpan, ZipLimits, read_zip
from hws.store import packed_files
from hws.store.blobs import BlobNotFound, BlobStore, FilesystemBlobStore
from hws.store.imports import reference_blob
from hws.store.packed_files import PackedFile, StoredFileCorrupt, StoredFiles

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def zip_of(files: dict[str, tuple[bytes, int]], *, extra: bytes = b"", streamed: bool = False) -> bytes:
    """A ZIP of ``name → (data, method)``; ``extra``: an extra field on every entry;
    ``streamed``: written to a pipe-like sink (sizes in data descriptors after the data)."""
    out = io.BytesIO()

    class Unseekable(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
            return out.write(b)

    with zipfile.ZipFile(Unseekable() if streamed else out, "w") as archive:  # type: ignore[arg-type]
        for name, (data, method) in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 20, 9, 0, 0))
            info.compress_type = method
            info.extra = extra
            if streamed:
                with archive.open(info, "w") as sink:
                    sink.write(data)
            else:
                archive.writestr(info, data)
    return out.getvalue()


def store_package(engine: Engine, blobs: BlobStore, body: bytes) -> tuple[str, dict[str, PackedFile]]:
    """Store the package as intake does (a blob with its row), and record its files as import does."""
    package = blobs.put_bytes(body)
    content = read_zip(body, ZipLimits(max_ratio=1e9))  # highly compressible test data
    assert not content.problems, content.problems
    files = {
        name: PackedFile(hashlib.sha256(data).hexdigest(), len(data), content.spans[name]) for name, data in content.files.items()
    }
    with engine.begin() as conn:
        reference_blob(conn, package.sha256, package.size, NOW)
        packed_files.record(conn, package.sha256, list(files.values()), NOW)
    return package.sha256, files


def read(stored: StoredFiles, sha256: str) -> bytes:
    with stored.open(sha256) as handle:
        return handle.read()


# (a leading "v": no archive magic, which read_zip refuses as a nested archive)
contents = (
    st.just(b"")
    | st.binary(max_size=3000).map(lambda b: b"v" + b)
    | st.builds(lambda n, b: b"v" + b * n, st.integers(1, 25_000), st.binary(min_size=1, max_size=3))
)
extras = st.sampled_from([b"", struct.pack("<HH", 0xCAFE, 5) + b"hello", struct.pack("<HH", 0x7075, 0)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.dictionaries(
        st.from_regex(r"[a-z]{1,8}\.(png|pdf|xml)", fullmatch=True),
        st.tuples(contents, st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])),
        min_size=1,
        max_size=5,
    ),
    extra=extras,
    streamed=st.booleans(),
)
def test_every_file_reads_back_from_its_span(engine: Engine, tmp_path: Path, files, extra, streamed) -> None:  # type: ignore[no-untyped-def]
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    stored = StoredFiles(engine, blobs)
    package, recorded = store_package(engine, blobs, zip_of(files, extra=extra, streamed=streamed))
    for name, (data, _method) in files.items():
        sha = recorded[name].sha256
        assert read(stored, sha) == data
        assert not blobs.exists(sha)  # never copied out of the package
        found = stored.locate(sha)
        assert found is not None
        if found[0] == package:  # an earlier example may have stored the same bytes first
            assert found[1].span == recorded[name].span


def test_seek_and_range_reads(engine: Engine, tmp_path: Path) -> None:
    data = os.urandom(50_000) + b"a" * 300_000 + os.urandom(50_000)
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    stored = StoredFiles(engine, blobs)
    _package, recorded = store_package(engine, blobs, zip_of({"big.pdf": (data, zipfile.ZIP_DEFLATED)}))
    sha = recorded["big.pdf"].sha256
    with stored.open(sha) as handle:
        assert handle.seekable()
        handle.seek(340_000)
        assert handle.read(20_000) == data[340_000:360_000]
        handle.seek(10)  # backwards: read again from the start
        assert handle.read(5) == data[10:15]
        assert handle.tell() == 15
        handle.seek(-7, io.SEEK_END)
        assert handle.read() == data[-7:]
        handle.seek(0)
        assert handle.read() == data


def test_known_digest_keeps_its_first_location(both_engines: Engine, tmp_path: Path) -> None:
    """A file already stored (inside an earlier package, or as a file of its own) keeps
    that location: either reads the same bytes."""
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    stored = StoredFiles(both_engines, blobs)
    same = os.urandom(2000)
    first, _ = store_package(both_engines, blobs, zip_of({"a.png": (same, zipfile.ZIP_STORED)}))
    second, recorded = store_package(
        both_engines, blobs, zip_of({"z.png": (b"x" * 100, 8), "b.png": (same, zipfile.ZIP_DEFLATED)})
    )
    found = stored.locate(recorded["b.png"].sha256)
    assert found is not None and found[0] == first != second
    assert read(stored, recorded["b.png"].sha256) == same

    loose = blobs.put_bytes(b"a file of its own")
    with both_engines.begin() as conn:
        reference_blob(conn, loose.sha256, loose.size, NOW)
        packed_files.record(conn, second, [PackedFile(loose.sha256, loose.size, EntrySpan(0, 17, 0))], NOW)
    assert stored.locate(loose.sha256) is None
    assert read(stored, loose.sha256) == b"a file of its own"
    with pytest.raises(BlobNotFound):
        stored.open("0" * 64)


@pytest.mark.parametrize("damage", ["flip", "truncate", "length"])
def test_a_damaged_package_never_reads_as_the_file(engine: Engine, tmp_path: Path, damage: str) -> None:
    data = os.urandom(3000)
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    stored = StoredFiles(engine, blobs)
    package, recorded = store_package(engine, blobs, zip_of({"view.png": (data, zipfile.ZIP_STORED)}))
    file = recorded["view.png"]
    path = blobs.path_for(package)
    body = bytearray(path.read_bytes())
    if damage == "flip":
        body[file.span.offset + 1000] ^= 0x01
        path.write_bytes(bytes(body))
    elif damage == "truncate":
        path.write_bytes(bytes(body[: file.span.offset + 10]))
    else:  # a row whose size disagrees with the span's bytes
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE blobs SET size = size + 1 WHERE sha256 = ?", (file.sha256,))
    with pytest.raises(StoredFileCorrupt):
        read(stored, file.sha256)


def test_an_unknown_method_is_refused(engine: Engine, tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    package = blobs.put_bytes(b"PK whatever")
    with engine.begin() as conn:
        reference_blob(conn, package.sha256, package.size, NOW)
        packed_files.record(conn, package.sha256, [PackedFile("ab" * 32, 3, EntrySpan(0, 3, 12))], NOW)
    with pytest.raises(StoredFileCorrupt, match="method 12"):
        StoredFiles(engine, blobs).open("ab" * 32)


def test_read_from_a_package_on_s3(s3_service: Service) -> None:
    """On object storage the file is read by ranged GETs of its package."""
    from hws.store.s3 import S3BlobStore

    service = s3_service
    assert isinstance(service.blobs, S3BlobStore)
    data = os.urandom(70_000) + b"b" * 200_000
    _package, recorded = store_package(
        service.engine, service.blobs, zip_of({"doc.pdf": (data, zipfile.ZIP_DEFLATED), "x.xml": (b"<x/>", 0)})
    )
    assert read(service.files, recorded["doc.pdf"].sha256) == data
    assert read(service.files, recorded["x.xml"].sha256) == b"<x/>"
    with service.files.open(recorded["doc.pdf"].sha256) as handle:
        handle.seek(69_990)
        assert handle.read(20) == data[69_990:70_010]
        reader = handle.raw._package  # type: ignore[attr-defined]
    assert reader.requests >= 1 and reader.fetched <= recorded["doc.pdf"].span.size  # the span only, no HEAD
    small = service.files.open(recorded["x.xml"].sha256)
    small.read()
    assert small.raw._package.requests == 1  # type: ignore[attr-defined]  # one GET for a small file
    small.close()
