"""Hostile packages sent to the real server: each rejected with its specific code,
nothing read or fetched, the service keeps serving and its memory stays bounded."""

from __future__ import annotations

import json
import socket
import threading
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from hws.client import HagueClient
from hws.client.enrolment import generate
from hws.st96 import specimens
from hws.st96.examples import example_package
from tests.st96.repack import raw_zip, repack, set_flag_bits, with_xml

pytestmark = pytest.mark.e2e


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


HTML = b"<html><body><script>fetch('/steal?c=' + document.cookie)</script></body></html>"


def _doctype(xml: bytes, doctype: bytes, reference: bytes) -> bytes:
    head, _, rest = xml.partition(b"?>")
    root_end = rest.index(b">", rest.index(b"<dgn:HagueOfficeToIBTransaction")) + 1
    return head + b"?>" + doctype + rest[:root_end] + reference + rest[root_end:]


def test_hostile_packages_are_rejected_and_the_service_keeps_serving(server, tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4242")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    connections: list[object] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                connections.append(listener.accept())
            except OSError:
                continue

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    port = listener.getsockname()[1]
    good = example_package("application", office="KR")
    bomb_entry = zipfile.ZipInfo("docs/bomb.pdf")
    bomb_entry.compress_type = zipfile.ZIP_DEFLATED
    cases = {
        "zip-not-a-zip": b"%PDF-1.4 definitely not a zip",
        "zip-not-a-zip#truncated": good[: len(good) // 2],
        "zip-ratio-exceeded": repack(good, add=[(bomb_entry, b"%PDF-1.4\n" + b"\0" * (50 * 1024 * 1024))]),
        "zip-entry-traversal": repack(good, add=[("../../etc/cron.d/x", b"x")]),
        "zip-entry-encrypted": set_flag_bits(good, next(n for n in zipfile.ZipFile(__import__("io").BytesIO(good)).namelist() if n.endswith(".pdf")), 0x1),
        "package-no-xml": raw_zip([("a.pdf", b"%PDF-1.4")]),
        "xml-doctype-forbidden#xxe": with_xml(
            good, lambda x: _doctype(x, f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode(), b"&xxe;")
        ),
        "xml-doctype-forbidden#laughs": with_xml(
            good,
            lambda x: _doctype(
                x,
                b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">' + b"".join(
                    f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
                ) + b"]>",
                b"&j;",
            ),
        ),
        # polyglots: the magic bytes of the format, then a web page (issue 9, item 4)
        "file-not-jpeg#jpeg-magic-then-html": repack(good, replace={"images/1.1.jpg": b"\xff\xd8\xff\xe0" + HTML}),
        "file-not-jpeg#four-bytes": repack(good, replace={"images/1.1.jpg": b"\xff\xd8\xff\xe0"}),
        "file-not-pdf#pdf-then-html": repack(good, replace={"docs/dm1.pdf": b"%PDF-1.7\n" + HTML}),
        "file-not-pdf#bare-header": repack(good, replace={"docs/dm1.pdf": b"%PDF-"}),
        "file-trailing-data#html-after-the-image": repack(good, replace={"images/2.1.jpg": specimens.jpeg() + HTML}),
        "xml-doctype-forbidden#network-dtd": with_xml(
            good, lambda x: _doctype(x, f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/evil.dtd">'.encode(), b"")
        ),
    }  # fmt: skip
    files = generate("KR", tmp_path / "keys")
    client_id = json.loads(
        server.hws(
            "admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1/32", "--json"
        ).stdout
    )["client_id"]
    with HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws:
        headers = {"Authorization": f"Bearer {hws.token()}", "Content-Type": "application/zip"}
        locations = {}
        for name, body in cases.items():
            response = httpx.post(f"{server.api_url}/request", content=body, headers=headers, timeout=60)
            assert response.status_code == 202, (name, response.text)
            locations[name] = response.headers["location"]
        results: dict[str, bytes] = {}
        deadline = time.monotonic() + 60
        while len(results) < len(locations) and time.monotonic() < deadline:
            for name, location in locations.items():
                if name not in results:
                    body = httpx.get(location, headers=headers).content
                    if b"Pending" not in body:
                        results[name] = body
            time.sleep(0.2)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert hws.ping("still serving").message == "Hello still serving"
    stop.set()
    watcher.join(2)
    listener.close()
    for name, body in results.items():
        code = name.split("#")[0]
        assert b"<hws:ImportStatusCategory>Rejected</hws:ImportStatusCategory>" in body, (name, body[:500])
        assert f"<hws:Code>{code}</hws:Code>".encode() in body, (name, body[:800])
        assert b"TOP-SECRET" not in body
    assert set(results) == set(cases)
    assert connections == [], "the server fetched an external DTD"
    assert "TOP-SECRET" not in server.log()
    peak = _peak_rss_mib(server.process.pid)
    assert peak < 400, f"server peak RSS {peak:.0f} MiB after hostile packages"
