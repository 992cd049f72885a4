"""The upload pipeline (``hws.api.upload``): the loop receives, one thread per upload
hashes and writes. Every way out leaves no temporary file and no thread behind.

Most tests drive :func:`upload.receive` directly with an ASGI ``receive`` callable, so
they choose exactly what arrives (a disconnect mid-body, a stall, a slow disk); the last
ones go through the whole app. No timing is asserted anywhere.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.testclient import TestClient

from hws.api import upload
from hws.api.app import create_app
from hws.api.problems import Problem
from hws.store.blobs import FilesystemBlobStore, FilesystemWriter
from tests.conftest import enrol, make_service
from tests.support.jose import claims_for, craft, form

API = "/webservices/api/v1"
ISSUER = "http://hws.test/oauth2"
MiB = 1024 * 1024


def upload_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hws-upload"]


def request_of(messages: Iterable[dict[str, Any] | float], content_type: str = "application/zip") -> Request:
    """A request whose body is ``messages`` (a number = sleep that long first)."""
    pending = iter(messages)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/request",
        "headers": [(b"content-type", content_type.encode())],
    }

    async def receive() -> dict[str, Any]:
        message = next(pending)
        while isinstance(message, (int, float)):
            await asyncio.sleep(message)
            message = next(pending)
        return message

    return Request(scope, receive)


def body(chunks: Iterable[bytes]) -> list[dict[str, Any]]:
    parts = list(chunks)
    return [{"type": "http.request", "body": c, "more_body": i < len(parts) - 1} for i, c in enumerate(parts)]


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def leftovers(store: FilesystemBlobStore) -> list[Path]:
    return list(store.tmp_dir.iterdir()) + [p for p in store.objects.rglob("*") if p.is_file()]


def test_body_in_uneven_chunks_is_stored_whole(store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FilesystemWriter, "WRITEBACK_BYTES", 256 * 1024)  # write-behind windows exercised
    data = os.urandom(5 * MiB + 12345)
    writer = store.writer()
    asyncio.run(upload.receive(request_of(body(chunks_of(data, 70_001))), writer, limit=10 * MiB))
    assert writer.size == len(data) and writer.hexdigest() == hashlib.sha256(data).hexdigest()
    ref = writer.commit()
    with store.open(ref.sha256) as stored:
        assert stored.read() == data
    assert list(store.tmp_dir.iterdir()) == [] and upload_threads() == []


def test_disconnect_mid_body_leaves_no_temporary_file(store: FilesystemBlobStore) -> None:
    messages = [*body(chunks_of(os.urandom(3 * MiB), 64 * 1024))[:-1], {"type": "http.disconnect"}]
    with pytest.raises(ClientDisconnect):
        asyncio.run(upload.receive(request_of(messages), store.writer(), limit=10 * MiB))
    assert leftovers(store) == [] and upload_threads() == []


def test_limit_cuts_a_chunked_body_and_stores_nothing(store: FilesystemBlobStore) -> None:
    messages = body([b"\0" * 256 * 1024] * 20)  # 5 MiB, no Content-Length
    with pytest.raises(Problem) as raised:
        asyncio.run(upload.receive(request_of(messages), store.writer(), limit=3 * MiB))
    assert raised.value.status == 413
    assert leftovers(store) == [] and upload_threads() == []


def test_stalled_body_times_out_and_stores_nothing(store: FilesystemBlobStore) -> None:
    messages = [*body([b"x" * MiB, b"y"])[:1], 5.0, {"type": "http.request", "body": b"late", "more_body": False}]
    with pytest.raises(Problem) as raised:
        asyncio.run(upload.receive(request_of(messages), store.writer(), limit=10 * MiB, idle_timeout=0.05))
    assert raised.value.status == 408
    assert leftovers(store) == [] and upload_threads() == []


def test_write_failure_is_raised_on_the_loop_and_the_writer_aborted(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls = 0

    def disk_full_on_the_third_write(fd: int, data: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full_on_the_third_write)
    read = 0

    async def scenario() -> None:
        nonlocal read
        messages = body([b"\1" * 128 * 1024] * 400)  # 50 MiB offered
        request = request_of(messages)
        original = request._receive

        async def counting() -> Any:
            nonlocal read
            read += 1
            return await original()

        request._receive = counting
        await upload.receive(request, store.writer(), limit=100 * MiB)

    with pytest.raises(OSError) as raised:
        asyncio.run(scenario())
    assert raised.value.errno == errno.ENOSPC
    assert read < 400  # the upload stopped soon after the failure, not at the end of the body
    assert leftovers(store) == [] and upload_threads() == []


def test_a_body_smaller_than_a_block_is_written_without_a_thread_of_its_own(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    real_start = threading.Thread.start

    def recording_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", recording_start)
    data = os.urandom(30_000)
    writer = store.writer()
    asyncio.run(upload.receive(request_of(body(chunks_of(data, 7_000))), writer, limit=MiB))
    assert writer.size == len(data) and writer.hexdigest() == hashlib.sha256(data).hexdigest()
    with store.open(writer.commit().sha256) as stored:
        assert stored.read() == data
    assert "hws-upload" not in started and upload_threads() == []


def test_a_small_body_whose_write_fails_is_aborted_and_raised(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError) as raised:
        asyncio.run(upload.receive(request_of(body([b"PK" * 1000, b"rest"])), store.writer(), limit=MiB))
    assert raised.value.errno == errno.ENOSPC
    assert leftovers(store) == [] and upload_threads() == []


def test_a_body_slower_in_all_than_the_idle_timeout_is_received(store: FilesystemBlobStore) -> None:
    """The idle timeout bounds each wait for the next chunk, not the whole body."""
    data = os.urandom(20 * 4096)
    messages: list[dict[str, Any] | float] = []
    for message in body(chunks_of(data, 4096)):
        messages += [0.02, message]  # 20 chunks, 0.4 s in all, each within 0.1 s
    writer = store.writer()
    asyncio.run(upload.receive(request_of(messages), writer, limit=MiB, idle_timeout=0.1))
    assert writer.hexdigest() == hashlib.sha256(data).hexdigest()
    writer.abort()


def test_a_slow_disk_is_not_an_idle_client(store: FilesystemBlobStore) -> None:
    """Time spent waiting for the writer (a full queue) is not counted as the client's
    silence: each block's write takes longer than the idle timeout, the chunks come at
    once, and the body is received."""
    writer = store.writer()
    real_write = writer.write

    def slow_write(data: bytes) -> None:
        threading.Event().wait(0.08)
        real_write(data)

    writer.write = slow_write  # type: ignore[method-assign]
    data = os.urandom((upload.QUEUE_BLOCKS + 4) * upload.BLOCK_BYTES)
    asyncio.run(upload.receive(request_of(body(chunks_of(data, 64 * 1024))), writer, limit=64 * MiB, idle_timeout=0.03))
    assert writer.size == len(data) and writer.hexdigest() == hashlib.sha256(data).hexdigest()
    writer.abort()
    assert leftovers(store) == [] and upload_threads() == []


def test_slow_disk_slows_the_client_not_memory(store: FilesystemBlobStore) -> None:
    """While the writer is stuck, the loop reads at most the queue's worth of blocks."""
    writer = store.writer()
    release = threading.Event()
    real_write = writer.write
    read = 0

    def stuck_write(data: bytes) -> None:
        release.wait(30)
        real_write(data)

    writer.write = stuck_write  # type: ignore[method-assign]

    async def scenario() -> None:
        nonlocal read
        chunk = 64 * 1024
        messages = body([b"\2" * chunk] * 1000)  # 62.5 MiB offered
        request = request_of(messages)
        original = request._receive

        async def counting() -> Any:
            nonlocal read
            read += 1
            return await original()

        request._receive = counting
        task = asyncio.create_task(upload.receive(request, writer, limit=100 * MiB))
        while True:  # until the loop waits for a free slot
            await asyncio.sleep(0.01)
            before = read
            await asyncio.sleep(0.05)
            if read == before:
                break
        held = read * chunk
        assert held <= (upload.QUEUE_BLOCKS + 2) * upload.BLOCK_BYTES
        release.set()
        await task

    asyncio.run(scenario())
    assert writer.size == 1000 * 64 * 1024
    writer.abort()
    assert leftovers(store) == [] and upload_threads() == []


@pytest.mark.parametrize("idle_timeout", [None, 5.0], ids=["no-idle-timeout", "idle-timeout"])
def test_cancelled_upload_leaves_no_temporary_file(store: FilesystemBlobStore, idle_timeout: float | None) -> None:
    """Cancelled from outside (the server stopping) while waiting for the client: with an
    idle timeout set too, the cancellation goes on as one, not as a 408."""

    async def scenario() -> None:
        messages = [*body([b"\3" * MiB] * 3)[:2], 30.0, *body([b"end"])]
        receiving = upload.receive(request_of(messages), store.writer(), limit=10 * MiB, idle_timeout=idle_timeout)
        task = asyncio.create_task(receiving)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert leftovers(store) == [] and upload_threads() == []


def multipart(files: list[bytes], boundary: str = "b0undary") -> bytes:
    out = b""
    for i, content in enumerate(files):
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file{i}"; filename="p{i}.zip"\r\n'
                "Content-Type: application/zip\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


def test_multipart_file_in_small_chunks(store: FilesystemBlobStore) -> None:
    data = os.urandom(3 * MiB + 7)
    writer = store.writer()
    request = request_of(body(chunks_of(multipart([data]), 10_000)), "multipart/form-data; boundary=b0undary")
    asyncio.run(upload.receive(request, writer, limit=10 * MiB))
    assert writer.hexdigest() == hashlib.sha256(data).hexdigest()
    writer.abort()
    assert upload_threads() == []


def test_multipart_second_file_is_refused_and_nothing_stored(store: FilesystemBlobStore) -> None:
    payload = multipart([os.urandom(2 * MiB), b"second"])
    request = request_of(body(chunks_of(payload, 50_000)), "multipart/form-data; boundary=b0undary")
    with pytest.raises(Problem) as raised:
        asyncio.run(upload.receive(request, store.writer(), limit=10 * MiB))
    assert raised.value.status == 400 and "one file" in (raised.value.detail or "")
    assert leftovers(store) == [] and upload_threads() == []


def test_multipart_write_failure_is_not_a_malformed_body(store: FilesystemBlobStore) -> None:
    writer = store.writer()

    def failing(data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    writer.write = failing  # type: ignore[method-assign]
    request = request_of(body(chunks_of(multipart([os.urandom(3 * MiB)]), 64 * 1024)), "multipart/form-data; boundary=b0undary")
    with pytest.raises(OSError):
        asyncio.run(upload.receive(request, writer, limit=10 * MiB))
    assert leftovers(store) == [] and upload_threads() == []


# Through the app -----------------------------------------------------------------------


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, worker_threads=0, max_package_bytes=8 * MiB)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    yield service, client
    client.close()
    service.close()


def bearer(client: TestClient, office: Any) -> dict[str, str]:
    token = client.post(
        "/oauth2/access_token", data=form(craft({"alg": "ES256"}, claims_for(office.client_id, ISSUER), office.key))
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"}


def stored_nothing(service: Any) -> bool:
    return list(service.blobs.list_blobs()) == [] and list((service.settings.blobs_dir / "tmp").iterdir()) == []


def test_disk_full_answers_503_and_stores_nothing(setup, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service))
    real_write = os.write

    def disk_full(fd: int, data: Any) -> int:
        if len(data) >= 64 * 1024:  # the blob's blocks, not the odd small write elsewhere
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    response = client.post(f"{API}/request", content=iter([b"\4" * 256 * 1024] * 24), headers=headers)
    assert response.status_code == 503 and response.headers["retry-after"]
    assert b"storage" in response.content
    assert stored_nothing(service) and upload_threads() == []
    monkeypatch.setattr(os, "write", real_write)
    data = os.urandom(6 * MiB)
    response = client.post(f"{API}/request", content=data, headers=headers)
    assert response.status_code == 202 and hashlib.sha256(data).hexdigest().encode() in response.content


def test_limit_answers_413_and_stores_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service))
    response = client.post(f"{API}/request", content=iter([b"\5" * 512 * 1024] * 20), headers=headers)
    assert response.status_code == 413
    assert stored_nothing(service) and upload_threads() == []
