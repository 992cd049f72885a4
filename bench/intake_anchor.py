"""The anchor of ``bench/intake.py``: the least a service can do to accept a package, as
a bare ASGI app (no framework) under uvicorn.

``POST`` any path with a ZIP body: the body is written to a new file, ``fsync``-ed (file
and folder), opened as a ZIP whose every entry is read and CRC-checked, its one XML entry
parsed by lxml (no DTD, no entities, no network) and validated against the XSD compiled
once at start-up; the answer is 202 ``{"valid": true|false}``. All of it inside the
request: when the answer arrives the package is stored and checked, which is what hws
does between ``POST /request`` and ``Imported``.

Settings (environment): ``INTAKE_ANCHOR_DIR`` where packages are stored,
``INTAKE_ANCHOR_XSD`` the entry XSD (``HagueOfficeToIBTransaction_V6_0.xsd``).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lxml import etree

STORE = Path(os.environ.get("INTAKE_ANCHOR_DIR", "intake-anchor"))
STORE.mkdir(parents=True, exist_ok=True)
SCHEMA = etree.XMLSchema(etree.parse(os.environ["INTAKE_ANCHOR_XSD"])) if os.environ.get("INTAKE_ANCHOR_XSD") else None
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_numbers = itertools.count()

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def accept(body: bytes) -> bool:
    path = STORE / f"{next(_numbers)}.zip"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    folder = os.open(STORE, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        if archive.testzip() is not None:  # every entry read and CRC-checked
            return False
        xml_names = [n for n in archive.namelist() if n.lower().endswith(".xml")]
        if len(xml_names) != 1:
            return False
        tree = etree.parse(io.BytesIO(archive.read(xml_names[0])), PARSER)
    return SCHEMA is None or SCHEMA.validate(tree)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    valid = accept(bytes(body))
    answer = json.dumps({"valid": valid}).encode()
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": answer})
