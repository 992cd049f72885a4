"""``hws serve``'s HTTP protocol (``HeaderDeadlineProtocol``) hands a request body's chunks
to the application without uvicorn's copies: whether each chunk is read before the next
arrives or several pile up first, the application gets every byte, in order, once."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.server import ServerState

from hws.cli.serve import HeaderDeadlineProtocol


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.paused = 0
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        pass


def _connected(app: Any) -> tuple[HeaderDeadlineProtocol, _Transport]:
    """``hws serve``'s protocol for ``app`` on a new connection (inside a running loop)."""
    config = Config(app, lifespan="off", log_config=None, access_log=False)
    config.load()
    protocol = HeaderDeadlineProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


def _run(pieces: list[bytes], *, read_between: bool) -> tuple[bytes, list[type], _Transport]:
    received: list[bytes] = []
    kinds: list[type] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            kinds.append(type(message["body"]))
            received.append(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def scenario() -> _Transport:
        protocol, transport = _connected(app)
        size = sum(len(p) for p in pieces)
        protocol.data_received(f"POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
        for piece in pieces:
            protocol.data_received(piece)
            if read_between:
                for _ in range(5):  # the application reads this chunk before the next comes
                    await asyncio.sleep(0)
        for _ in range(200):
            if transport.written:
                break
            await asyncio.sleep(0.005)
        protocol.connection_lost(None)
        return transport

    transport = asyncio.run(scenario())
    return b"".join(received), kinds, transport


@pytest.mark.parametrize("read_between", [True, False], ids=["read-one-by-one", "piled-up"])
def test_every_byte_reaches_the_application_once_and_in_order(read_between: bool) -> None:
    pieces = [os.urandom(n) for n in (1, 70_000, 3, 65_536, 4096, 200_000, 17)]
    body, kinds, transport = _run(pieces, read_between=read_between)
    assert body == b"".join(pieces)
    assert transport.written.startswith(b"HTTP/1.1 204 ")
    assert all(kind is bytes for kind in kinds)  # never a bytearray the server goes on changing
    if not read_between:
        assert transport.paused  # uvicorn's flow control still pauses a client the app lags behind


def test_a_chunk_read_at_once_is_handed_over_without_a_copy() -> None:
    """The object the application gets is the one the parser gave (``bytes`` of a
    ``bytes`` is itself), when nothing else was waiting."""
    seen: list[int] = []
    chunk = os.urandom(HIGH_WATER_LIMIT // 2)
    original = HeaderDeadlineProtocol.on_body

    def spy(self: HeaderDeadlineProtocol, body: bytes) -> None:
        seen.append(id(body))
        original(self, body)

    HeaderDeadlineProtocol.on_body = spy  # type: ignore[method-assign]
    try:
        ids: list[int] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            message = await receive()
            ids.append(id(message["body"]))
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def scenario() -> None:
            protocol, _ = _connected(app)
            protocol.data_received(f"POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: {len(chunk)}\r\n\r\n".encode() + chunk)
            for _ in range(20):
                await asyncio.sleep(0)
            protocol.connection_lost(None)

        asyncio.run(scenario())
    finally:
        HeaderDeadlineProtocol.on_body = original  # type: ignore[method-assign]
    assert ids and seen and ids[0] == seen[0]
