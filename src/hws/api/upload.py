"""Streaming request bodies into a blob writer: raw ``application/zip`` or
``multipart/form-data`` with exactly one file. Never holds the body in memory; stops
at the size limit.

The event loop only receives: it gathers the body's chunks into blocks of about
:data:`BLOCK_BYTES` and hands them to one thread per upload (:class:`Spool`), which
calls :meth:`BlobWriter.write` — hashing and file or network writes, which release the
GIL for buffers this large — while the loop receives the next block (a body smaller than
one block, as most packages are, is written by one call in a worker thread instead). At
most :data:`QUEUE_BLOCKS` blocks wait or are being written: when the writer is slower than
the client, the loop stops reading, the socket's window closes and the client slows
down; memory stays flat. Every way out (limit, timeout, disconnect, malformed body,
failed write, cancellation) stops the thread and aborts the writer before it returns.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import queue
import re
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from hws.api.problems import Problem
from hws.store.blobs import BlobWriter

log = logging.getLogger("hws.api.upload")

ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/octet-stream"}
MAX_FORM_FIELD_BYTES = 64 * 1024
#: the loop hands the body to the writer thread in blocks of about this size
BLOCK_BYTES = 1024 * 1024
#: blocks queued or being written at most, per upload (memory ≈ this × BLOCK_BYTES)
QUEUE_BLOCKS = 4
_DIGEST_ITEM = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*$")


def too_large(limit: int) -> Problem:
    return Problem("payload-too-large", detail=f"the package exceeds the limit of {limit} bytes; nothing was stored")


def expected_sha256(header: str | None) -> bytes | None:
    """The sha-256 of an RFC 9530 ``Content-Digest`` header, ``None`` if it has none."""
    if not header:
        return None
    for item in header.split(","):
        match = _DIGEST_ITEM.match(item)
        if not match:
            raise Problem("invalid-request", detail="Content-Digest is not an RFC 9530 dictionary (sha-256=:base64:)")
        if match.group(1).lower() == "sha-256":
            try:
                value = base64.b64decode(match.group(2), validate=True)
            except ValueError:
                raise Problem("invalid-request", detail="Content-Digest sha-256 value is not base64") from None
            if len(value) != 32:
                raise Problem("invalid-request", detail="Content-Digest sha-256 value must be 32 bytes")
            return value
    return None  # only algorithms we do not support: ignored (RFC 9530 §2)


class _IdleWatchdog:
    """Cancels the current task when it has waited ``seconds`` for the client's next chunk.

    What ``asyncio.timeout`` around each wait would do, without its cost per chunk (a
    timer scheduled and cancelled for every 64 KiB: several per cent of the event loop's
    work on a large upload): one timer, re-armed when it fires during a wait or by the
    first wait after it fired between waits; per chunk, two attribute stores. Only the
    waits count: time the consumer spends between chunks (a full write queue, a slow
    disk) never does."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._since: float | None = None  # when the current wait began; None between waits
        self._timer: asyncio.TimerHandle | None = None

    def waiting(self) -> None:
        self._since = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._since + self.seconds, self._check)

    def received(self) -> None:
        self._since = None

    def _check(self) -> None:
        self._timer = None
        since = self._since
        if since is None:  # between waits: the next wait arms the timer again
            return
        if self._loop.time() - since >= self.seconds:
            self.expired = True
            self._task.cancel()
            return
        self._timer = self._loop.call_at(since + self.seconds, self._check)

    def timed_out(self) -> bool:
        """After a ``CancelledError``: whether it was this watchdog's (then it is taken
        back, as ``asyncio.timeout`` does) rather than someone else's."""
        return self.expired and self._task.uncancel() <= self._cancelling

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _bounded(request: Request, limit: int, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
    """The body's chunks, cut at ``limit`` bytes (413) and after ``idle_timeout`` seconds
    without data (408: a stalled or deliberately slow client does not hold a slot forever)."""
    received = 0
    stream = request.stream().__aiter__()
    watchdog = _IdleWatchdog(idle_timeout) if idle_timeout is not None else None
    try:
        while True:
            if watchdog is not None:
                watchdog.waiting()
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if watchdog is not None and watchdog.timed_out():
                    raise Problem(
                        "request-timeout", detail=f"no data received for {idle_timeout:.0f} s; nothing was stored"
                    ) from None
                raise
            if watchdog is not None:
                watchdog.received()
            received += len(chunk)
            if received > limit:
                raise too_large(limit)
            if chunk:
                yield chunk
    finally:
        if watchdog is not None:
            watchdog.stop()


_FINISH = object()
_ABORT = object()


class Spool:
    """Feeds one :class:`BlobWriter` from one dedicated thread, through a bounded queue.

    On the loop: :meth:`add` gathers chunks, :meth:`send` hands them over as one block
    (waiting while :data:`QUEUE_BLOCKS` are in flight), :meth:`finish` hands over the
    rest and waits for the thread, :meth:`abort` makes the thread abort the writer
    (temporary file or multipart upload removed) and waits for it. A failed write
    aborts the writer at once, the thread drops what follows, and the error is raised
    on the loop by the next call.
    """

    def __init__(self, writer: BlobWriter, *, block_bytes: int = BLOCK_BYTES, depth: int = QUEUE_BLOCKS) -> None:
        self._writer = writer
        self._block_bytes = block_bytes
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(depth)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._parts: list[bytes] = []
        self._pending = 0
        self._error: BaseException | None = None
        self._aborting = False
        self._done: asyncio.Future[None] = self._loop.create_future()
        #: started with the first full block: a body smaller than one block (most
        #: packages) is written by one call in a worker thread at :meth:`finish`
        self._thread: threading.Thread | None = None

    # The writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        writer = self._writer
        try:
            while True:
                item = self._queue.get()
                if item is _FINISH:
                    return
                if item is _ABORT:
                    writer.abort()
                    return
                if self._error is None and not self._aborting:
                    try:
                        writer.write(item[0] if len(item) == 1 else b"".join(item))
                    except BaseException as exc:  # raised again on the loop
                        self._error = exc
                        writer.abort()  # what follows is dropped
                del item
                self._call(self._slots.release)
        except BaseException:  # pragma: no cover - abort failed: the sweeper removes the file
            log.exception("upload writer thread failed")
        finally:
            self._call(self._finished)

    def _call(self, callback: Callable[[], object]) -> None:
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def _finished(self) -> None:
        if not self._done.done():
            self._done.set_result(None)

    # The event loop -------------------------------------------------------------------

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def add(self, data: bytes) -> None:
        """Gather ``data`` (kept by reference: the caller must not change it)."""
        if data:
            self._parts.append(data)
            self._pending += len(data)

    @property
    def full(self) -> bool:
        return self._pending >= self._block_bytes

    async def send(self) -> None:
        """Hand what was gathered to the thread; wait while the queue is full."""
        self._raise_if_failed()
        if not self._parts:
            return
        await self._slots.acquire()
        self._raise_if_failed()
        parts, self._parts, self._pending = self._parts, [], 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hws-upload", daemon=True)
            self._thread.start()
        self._queue.put(parts)

    async def finish(self) -> None:
        """Hand over the rest and wait until all of it is written; raise the first
        write error. The thread has ended when this returns."""
        if self._thread is None:
            await self._write_at_once()
            return
        try:
            await self.send()
        except BaseException:
            await self.abort()
            raise
        self._queue.put(_FINISH)
        await self._wait()
        self._raise_if_failed()

    async def _write_at_once(self) -> None:
        """The whole body fitted in one block: one write in a worker thread (not
        cancellable: it ends before this returns); a failed write aborts the writer."""
        parts, self._parts, self._pending = self._parts, [], 0
        if not parts:
            return
        try:
            await run_in_threadpool(self._writer.write, parts[0] if len(parts) == 1 else b"".join(parts))
        except BaseException:
            await run_in_threadpool(self._writer.abort)
            raise

    async def abort(self) -> None:
        """Drop what is queued, abort the writer (in the thread, after its current
        write) and wait for the thread to end."""
        self._parts, self._pending = [], 0
        self._aborting = True
        if self._thread is None:
            await run_in_threadpool(self._writer.abort)
            return
        self._queue.put(_ABORT)
        await self._wait()

    async def _wait(self) -> None:
        try:
            await asyncio.shield(self._done)
        except asyncio.CancelledError:
            # Cancelled (server shutting down) while the thread ends its current write:
            # wait for that write here, so nothing writes after the caller aborts.
            self._aborting = True
            assert self._thread is not None
            self._thread.join()
            raise
        assert self._thread is not None
        self._thread.join()  # it has signalled its end: only its return is left


async def _spool(
    chunks: AsyncIterator[bytes | None], writer: BlobWriter, feed: Callable[[Spool, bytes | None], None] | None = None
) -> None:
    """Every chunk into ``writer`` through a :class:`Spool` (``feed`` parses each first;
    ``None`` is the end of the body, for a ``feed`` that checks it ended well)."""
    spool = Spool(writer)
    try:
        async for chunk in chunks:
            if feed is None:
                if chunk is not None:
                    spool.add(chunk)
            else:
                feed(spool, chunk)
            if spool.full:
                await spool.send()
    except BaseException:
        await spool.abort()
        raise
    await spool.finish()


async def receive(request: Request, writer: BlobWriter, limit: int, idle_timeout: float | None = None) -> None:
    """Stream the package in ``request`` into ``writer`` or raise (a :class:`Problem`, or
    the writer's own error). When this returns or raises, no write is running; the
    caller commits or aborts the writer."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    media = content_type.decode("latin-1").lower()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    if media in ZIP_TYPES:
        await _spool(_bounded(request, limit, idle_timeout), writer)
    elif media == "multipart/form-data":
        await _receive_multipart(request, writer, limit, params.get(b"boundary"), idle_timeout)
    else:
        raise Problem(
            "unsupported-media-type",
            detail="send the package as application/zip, or as multipart/form-data with one file",
        )
    if writer.size == 0:
        raise Problem("invalid-request", detail="the request body is empty: send the package ZIP")


async def _receive_multipart(
    request: Request, writer: BlobWriter, limit: int, boundary: bytes | None, idle_timeout: float | None
) -> None:
    if not boundary:
        raise Problem("invalid-request", detail="multipart/form-data without a boundary")
    state: dict[str, Any] = {
        "in_file": False, "files": 0, "field_bytes": 0, "header_field": b"", "disposition": b"", "closed": False,
    }  # fmt: skip
    into: list[Spool] = []  # the spool of the current chunk, for on_part_data

    def on_end() -> None:
        state["closed"] = True  # the closing boundary (--boundary--) has come

    def on_part_begin() -> None:
        state["disposition"] = b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_field"] = data[start:end].lower()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        if state["header_field"] == b"content-disposition":
            state["disposition"] += data[start:end]

    def on_headers_finished() -> None:
        _, options = parse_options_header(state["disposition"])
        state["in_file"] = b"filename" in options
        if state["in_file"]:
            state["files"] += 1
            if state["files"] > 1:
                raise Problem("invalid-request", detail="send exactly one file in the multipart body")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"]:
            into[0].add(data[start:end])
        else:
            state["field_bytes"] += end - start
            if state["field_bytes"] > MAX_FORM_FIELD_BYTES:
                raise Problem("invalid-request", detail="form fields other than the file are too large")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_end": on_end,
        },
    )

    def parse(spool: Spool, chunk: bytes | None) -> None:
        into[:] = [spool]
        try:
            if chunk is None:
                parser.finalize()  # python-multipart accepts a body that just stops: check it ended
                if not state["closed"]:
                    raise Problem(
                        "invalid-request",
                        detail="malformed multipart body: it ends before its closing boundary (truncated?); nothing was stored",
                    )
            else:
                parser.write(chunk)
        except Problem:
            raise
        except Exception as exc:  # python-multipart raises several error types
            raise Problem("invalid-request", detail=f"malformed multipart body: {exc}") from None

    async def chunks_then_end() -> AsyncIterator[bytes | None]:
        async for chunk in _bounded(request, limit, idle_timeout):
            yield chunk
        yield None  # finalize: the closing boundary must have come

    await _spool(chunks_then_end(), writer, parse)
    if state["files"] == 0:
        raise Problem("invalid-request", detail="the multipart body holds no file: send the package as a file part")
