"""The S3 blob store against moto in server mode on loopback (real HTTP, real boto3)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from hws.config import Settings
from hws.service import Service, create_blob_store
from hws.store.blobs import BlobNotFound
from hws.store.s3 import MiB, S3BlobReader, S3BlobStore
from tests.support.s3 import CREDENTIALS, moto_endpoint, new_bucket, s3_client


@pytest.fixture(scope="module")
def client() -> Any:
    return s3_client()


@pytest.fixture
def store(client: Any) -> S3BlobStore:
    return S3BlobStore(client, new_bucket(client), "hws/")


def keys(store: S3BlobStore, prefix: str = "") -> list[str]:
    answer = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix + prefix)
    return sorted(item["Key"] for item in answer.get("Contents", []))


def uploads(store: S3BlobStore) -> list[dict[str, Any]]:
    return store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def test_put_bytes_is_content_addressed(store: S3BlobStore) -> None:
    data = b"hello, hague"
    sha = hashlib.sha256(data).hexdigest()
    ref = store.put_bytes(data)
    assert (ref.sha256, ref.size) == (sha, len(data))
    assert keys(store) == [f"hws/sha256/{sha[:2]}/{sha[2:4]}/{sha}"]
    assert store.exists(sha) and store.size(sha) == len(data)
    assert store.local_path(sha) is None
    with store.open(sha) as handle:
        assert handle.read() == data
    assert [name for name, _ in store.list_blobs()] == [sha]
    assert uploads(store) == [] and keys(store, "tmp/") == []


def test_missing_blob(store: S3BlobStore) -> None:
    sha = "0" * 64
    assert not store.exists(sha)
    with pytest.raises(BlobNotFound):
        store.open(sha)
    with pytest.raises(BlobNotFound):
        store.size(sha)
    store.delete(sha)  # nothing to do
    with pytest.raises(ValueError):
        store.exists("../etc/passwd")


def test_empty_blob(store: S3BlobStore) -> None:
    ref = store.put_bytes(b"")
    assert ref.size == 0 and store.size(ref.sha256) == 0
    with store.open(ref.sha256) as handle:
        assert handle.read() == b"" and handle.read(10) == b""


def test_large_blob_streams_through_multipart_upload_with_bounded_buffer(store: S3BlobStore) -> None:
    rng = random.Random(7)
    data = rng.randbytes(17 * MiB + 12345)  # two full 8 MiB parts and a tail
    writer = store.writer()
    peak = 0
    for start in range(0, len(data), 1_000_003):
        writer.write(data[start : start + 1_000_003])
        peak = max(peak, len(writer._buffer))
    assert peak < store.part_size  # never more than one part held in memory
    assert len(writer._parts) == 2 and len(uploads(store)) == 1  # parts already sent, under tmp/
    assert uploads(store)[0]["Key"].startswith("hws/tmp/")
    assert writer.hexdigest() == hashlib.sha256(data).hexdigest()
    ref = writer.commit()
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    assert store.size(ref.sha256) == len(data)
    assert uploads(store) == [] and keys(store, "tmp/") == []  # temp object copied, then deleted
    with store.open(ref.sha256) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == ref.sha256


def test_large_copy_uses_part_copies(client: Any) -> None:
    """Above the CopyObject limit (5 GiB on S3; lowered here) the temp object is copied
    into place with UploadPartCopy ranges."""
    store = S3BlobStore(client, new_bucket(client), "p/", copy_limit=10 * MiB, copy_part_size=6 * MiB)
    data = random.Random(3).randbytes(13 * MiB + 1)
    ref = store.put_bytes(data)
    with store.open(ref.sha256) as handle:
        assert handle.read() == data
    assert keys(store, "tmp/") == [] and uploads(store) == []


def test_ranged_reads_at_random_offsets(store: S3BlobStore) -> None:
    data = random.Random(11).randbytes(3 * MiB + 17)
    ref = store.put_bytes(data)
    rng = random.Random(12)
    with store.open(ref.sha256) as handle:
        assert isinstance(handle, S3BlobReader) and handle.seekable() and handle.readable()
        assert handle.seek(0, io.SEEK_END) == len(data)
        assert handle.read(5) == b""
        for _ in range(100):
            offset = rng.randrange(len(data))
            length = rng.choice([1, 7, 4096, 100_000, 700_000])
            handle.seek(offset)
            assert handle.read(length) == data[offset : offset + length]
            assert handle.tell() == min(offset + length, len(data))
        handle.seek(-10, io.SEEK_END)
        assert handle.read() == data[-10:]
        handle.seek(100)
        handle.seek(50, io.SEEK_CUR)
        buffer = bytearray(64)
        assert handle.readinto(buffer) == 64 and bytes(buffer) == data[150:214]
        with pytest.raises(OSError):
            handle.seek(-1)
    with pytest.raises(ValueError):
        handle.read(1)


def test_sequential_reads_grow_the_window(store: S3BlobStore) -> None:
    data = random.Random(5).randbytes(20 * MiB)
    ref = store.put_bytes(data)
    with store.open(ref.sha256) as handle:
        got = b"".join(iter(lambda: handle.read(64 * 1024), b""))
        assert got == data
        assert handle.requests <= 8, handle.requests  # 256K, 512K, … 8M windows, not 320 GETs


def test_zipfile_reads_members_without_downloading_everything(store: S3BlobStore) -> None:
    buffer = io.BytesIO()
    rng = random.Random(9)
    members = {f"images/{i}.png": rng.randbytes(300_000) for i in range(30)}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    ref = store.put_bytes(buffer.getvalue())
    with store.open(ref.sha256) as handle, zipfile.ZipFile(handle) as archive:
        assert sorted(archive.namelist()) == sorted(members)
        assert archive.read("images/17.png") == members["images/17.png"]
        assert handle.requests <= 6 and handle.fetched < 2 * MiB  # directory + one member, not 9 MB


def test_abort_leaves_nothing(store: S3BlobStore) -> None:
    writer = store.writer()
    writer.write(b"x" * (9 * MiB))
    assert len(uploads(store)) == 1
    writer.abort()
    writer.abort()  # idempotent
    assert uploads(store) == [] and keys(store) == []
    small = store.writer()
    small.write(b"never sent")
    small.abort()
    assert keys(store) == []


def test_identical_content_is_stored_once_and_refreshed(store: S3BlobStore) -> None:
    small, large = b"same bytes", random.Random(1).randbytes(9 * MiB)
    first = {store.put_bytes(small).sha256, store.put_bytes(large).sha256}
    before = dict(store.list_blobs())
    time.sleep(1.1)  # S3 timestamps have one-second resolution
    again = {store.put_bytes(small).sha256, store.put_bytes(large).sha256}
    after = dict(store.list_blobs())
    assert first == again == set(after) and len(keys(store)) == 2
    assert all(after[sha] > before[sha] for sha in after)  # a kept duplicate looks fresh to the sweeper


def test_delete_and_guarded_delete(store: S3BlobStore) -> None:
    ref = store.put_bytes(b"to delete")
    listed = dict(store.list_blobs())[ref.sha256]
    store.delete(ref.sha256, older_than=listed)  # re-put (or put) since the listing: kept
    assert store.exists(ref.sha256)
    store.delete(ref.sha256, older_than=time.time() + 60)
    assert not store.exists(ref.sha256)
    ref = store.put_bytes(b"again")
    store.delete(ref.sha256)
    assert not store.exists(ref.sha256) and list(store.list_blobs()) == []


def test_sweep_temporary_takes_only_stale_uploads_and_objects(store: S3BlobStore) -> None:
    stale = store.writer()
    stale.write(b"s" * (8 * MiB))  # an upload left behind by a crash
    store.client.put_object(Bucket=store.bucket, Key="hws/tmp/left-over", Body=b"completed, never copied")
    blob = store.put_bytes(b"a blob")
    assert store.sweep_temporary(time.time() - 3600) == 0  # nothing that old
    time.sleep(1.1)
    cutoff = float(int(time.time()))  # S3 timestamps are whole seconds
    live = store.writer()
    live.write(b"l" * (8 * MiB))  # a part written after the cutoff: still in progress
    assert store.sweep_temporary(cutoff) == 2
    assert [u["UploadId"] for u in uploads(store)] == [live._upload_id]
    assert keys(store, "tmp/") == []
    assert store.exists(blob.sha256)  # blobs are the orphan sweeper's business, not this
    live.write(b"tail")
    assert store.size(live.commit().sha256) == 8 * MiB + 4
    stale.abort()  # already swept: nothing to do


def test_sweeper_coordination_is_the_grace_period(store: S3BlobStore) -> None:
    with store.referencing(), store.sweeping() as exclusive:
        assert exclusive is True


def test_presigned_url_serves_the_bytes(store: S3BlobStore) -> None:
    import httpx

    data = b"PK\x03\x04 published"
    ref = store.put_bytes(data)
    url = store.presigned_url(ref.sha256, expires=60, filename="bulletin-202601.zip", media_type="application/zip")
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-disposition"] == 'attachment; filename="bulletin-202601.zip"'
    partial = httpx.get(url, headers={"Range": "bytes=3-8"})
    assert partial.status_code == 206 and partial.content == data[3:9]


def test_settings_choose_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket()
    settings = Settings(data_dir=tmp_path, blob_store="s3", s3_bucket=bucket, s3_prefix="deploy", s3_endpoint_url=moto_endpoint())
    store = create_blob_store(settings)
    assert isinstance(store, S3BlobStore) and store.prefix == "deploy/"
    ref = store.put_bytes(b"from settings")
    assert store.client.head_object(Bucket=bucket, Key=store.key_for(ref.sha256))["ContentLength"] == 13
    assert not (tmp_path / "blobs" / "sha256").exists() or not any((tmp_path / "blobs" / "sha256").rglob("*"))
    with pytest.raises(ValueError, match="HWS_S3_BUCKET"):
        S3BlobStore.from_settings(Settings(data_dir=tmp_path, blob_store="s3"))
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"


def test_orphan_sweep_on_s3(s3_service: Service) -> None:
    """The worker's sweep works unchanged on S3: unreferenced blobs and stale uploads go,
    referenced blobs stay (no lock: the grace period alone keeps fresh blobs)."""
    from datetime import UTC, datetime

    from hws.store import imports as import_store
    from hws.worker.maintenance import sweep_orphans

    service = s3_service
    store = service.blobs
    assert isinstance(store, S3BlobStore)
    kept, orphan = store.put_bytes(b"referenced"), store.put_bytes(b"orphan")
    with service.engine.begin() as conn:
        import_store.reference_blob(conn, kept.sha256, kept.size, datetime.now(UTC))
    store.writer().write(b"u" * (8 * MiB))  # a crashed upload
    assert sweep_orphans(service) == {"blobs": 0, "temporary": 0}  # all within the grace
    time.sleep(1.1)
    assert sweep_orphans(service, grace=0) == {"blobs": 1, "temporary": 1}
    assert store.exists(kept.sha256) and not store.exists(orphan.sha256)
    assert uploads(store) == []


def test_staging_is_local_scratch_not_the_bucket(store: S3BlobStore) -> None:
    before = keys(store)
    with store.staging() as handle:
        handle.write(b"a bulletin being built")
        handle.seek(0)
        assert handle.read() == b"a bulletin being built"
    assert keys(store) == before
