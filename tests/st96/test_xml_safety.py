"""The XML document: DTDs, entities, encodings, well-formedness, depth and size.

Hostile documents are refused before any entity is expanded, any file read or any
connection made; memory stays bounded."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hws.st96.examples import example_package
from hws.st96.package import validate_package
from hws.st96.zipsafe import ZipLimits
from tests.st96.repack import repack, with_xml, xml_entry

VALID_ROOT = b"<dgn:HagueOfficeToIBTransaction"


def _package_with_xml(xml: bytes) -> bytes:
    name, _ = xml_entry(example_package())
    return repack(example_package(), replace={name: xml})


def _with_doctype(doctype: bytes) -> bytes:
    """The valid example XML with a DOCTYPE (and maybe an entity use) put in front of the root."""
    _, xml = xml_entry(example_package())
    at = xml.index(VALID_ROOT)
    return _package_with_xml(xml[:at] + doctype + b"\n" + xml[at:])


def _only(report, code: str):
    found = [p for p in report.problems if p.code == code]
    assert found, [str(p) for p in report.problems]
    assert not report.ok
    return found[0]


def test_doctype_is_refused() -> None:
    report = validate_package(_with_doctype(b"<!DOCTYPE dgn:HagueOfficeToIBTransaction>"))
    found = _only(report, "xml-doctype-forbidden")
    assert found.where.entry.endswith(".xml") and found.where.line == 2


def test_xxe_to_a_local_file_reads_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7731")
    doctype = f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode()
    _, xml = xml_entry(example_package())
    xml = xml.replace(b"<com:OfficeReferenceIdentifier>KR-2024-0001", b"<com:OfficeReferenceIdentifier>&xxe;")
    at = xml.index(VALID_ROOT)
    report = validate_package(_package_with_xml(xml[:at] + doctype + xml[at:]))
    _only(report, "xml-doctype-forbidden")
    assert "TOP-SECRET" not in json.dumps(report.to_dict())


def test_billion_laughs_is_not_expanded() -> None:
    lol = [b'<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{"&lol%d;" % (i - 1) * 10}">'.encode() for i in range(1, 10)]
    doctype = b"<!DOCTYPE r [" + b"".join(lol) + b"]>"
    _, xml = xml_entry(example_package())
    xml = xml.replace(b"<com:OfficeReferenceIdentifier>KR-2024-0001", b"<com:OfficeReferenceIdentifier>&lol9;")
    at = xml.index(VALID_ROOT)
    report = validate_package(_package_with_xml(xml[:at] + doctype + xml[at:]))
    _only(report, "xml-doctype-forbidden")


def test_external_dtd_over_the_network_is_not_fetched() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        port = server.getsockname()[1]
        doctype = f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/evil.dtd">'.encode()
        report = validate_package(_with_doctype(doctype))
        _only(report, "xml-doctype-forbidden")
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected


def test_parser_itself_refuses_doctype_without_network() -> None:
    """Defence in depth: the hardened parser (safexml) also refuses what the prescan misses."""
    from hws.st96 import safexml

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        port = server.getsockname()[1]
        xml = f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/evil.dtd"><r/>'.encode()
        with pytest.raises(safexml.XMLRejected) as rejected:
            safexml.parse(xml)
        assert rejected.value.code in {"xml-doctype-forbidden", "xml-not-well-formed"}
        with pytest.raises(BlockingIOError):
            server.accept()


def test_invalid_utf8_as_declared() -> None:
    data = with_xml(example_package(), lambda x: x.replace(b"Chair", b"Chaise \xe9l\xe9gante"))
    found = _only(validate_package(data), "xml-encoding-invalid")
    assert found.where.line and found.where.line > 1


def test_other_declared_encoding() -> None:
    data = with_xml(
        example_package(),
        lambda x: x.replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'").replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
    )
    found = _only(validate_package(data), "xml-encoding-not-utf8")
    assert "ISO-8859-1" in found.message


def test_utf16_document() -> None:
    def to_utf16(xml: bytes) -> bytes:
        text = xml.decode("utf-8").replace("UTF-8", "UTF-16")
        return text.encode("utf-16")

    _only(validate_package(with_xml(example_package(), to_utf16)), "xml-encoding-not-utf8")


def test_not_well_formed() -> None:
    data = with_xml(example_package(), lambda x: x.replace(b"</dgn:HagueDesignBag>", b"</dgn:HagueDesignBagg>"))
    found = _only(validate_package(data), "xml-not-well-formed")
    assert found.where.line and found.where.line > 1


def test_deep_nesting_is_refused() -> None:
    depth = 100_000
    xml = b'<?xml version="1.0" encoding="UTF-8"?>' + b"<a>" * depth + b"</a>" * depth
    report = validate_package(_package_with_xml(xml), limits=ZipLimits(max_ratio=1e6))
    found = _only(report, "xml-not-well-formed")
    assert "nested" in found.message


def test_xml_size_limit() -> None:
    _, xml = xml_entry(example_package())
    found = _only(validate_package(_package_with_xml(xml), max_xml_bytes=1000), "xml-too-large")
    assert "1000" in found.message


HUNDRED_MB_OF_NESTING = textwrap.dedent(
    """
    import io, resource, sys, zipfile
    from hws.st96.package import validate_package
    from hws.st96.zipsafe import ZipLimits
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("package.xml", "w", force_zip64=True) as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?>')
            chunk = b"<a>" * 350_000
            for _ in range(100):  # 105 MB of nesting
                out.write(chunk)
    data = buf.getvalue()
    del buf
    limits = ZipLimits(**eval(sys.argv[1]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = validate_package(data, limits=limits)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(sorted(report.codes), len(data), (after - before) // 1024)
    """
)


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        ({}, "zip-entry-too-large"),  # default limits: refused from the header
        ({"max_entry_bytes": 200 << 20}, "zip-ratio-exceeded"),  # refused from the header
        ({"max_ratio": 1e9, "max_entry_bytes": 200 << 20}, "xml-too-large"),  # read, not parsed
    ],
)
def test_100_mb_of_nesting_bounded_memory(limits: dict, code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", HUNDRED_MB_OF_NESTING, repr(limits)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grew_mb = int(result.stdout.split()[-1])
    assert code in result.stdout, result.stdout
    # at most the entry limit in memory, never the whole tree
    assert grew_mb < 260, result.stdout
