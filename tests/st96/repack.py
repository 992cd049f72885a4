"""Turn a valid package (made by the builder) into a broken one, one change at a time."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable

from lxml import etree

from hws.st96.builder import write_zip
from hws.st96.namespaces import COM, DGN

NS = {"com": COM, "dgn": DGN}


def entries(package: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def xml_entry(package: bytes) -> tuple[str, bytes]:
    return next((n, d) for n, d in entries(package) if n.endswith(".xml"))


def repack(
    package: bytes,
    *,
    drop: Iterable[str] = (),
    add: Iterable[tuple[str | zipfile.ZipInfo, bytes]] = (),
    replace: dict[str, bytes] | None = None,
) -> bytes:
    replace = replace or {}
    drop = set(drop)
    kept = [(n, replace.get(n, d)) for n, d in entries(package) if n not in drop]
    return write_zip([*kept, *add])


def with_xml(package: bytes, change: Callable[[bytes], bytes]) -> bytes:
    name, xml = xml_entry(package)
    return repack(package, replace={name: change(xml)})


def with_tree(package: bytes, change: Callable[[etree._Element], None]) -> bytes:
    def edit(xml: bytes) -> bytes:
        root = etree.fromstring(xml)
        change(root)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    return with_xml(package, edit)


def find(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NS)
    assert found, path
    return found[0]


def remove(root: etree._Element, path: str) -> None:
    for el in root.xpath(path, namespaces=NS):
        el.getparent().remove(el)


def raw_zip(members: Iterable[tuple[zipfile.ZipInfo | str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP with hand-made entries (names, attributes, flags are taken as given)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return out.getvalue()


def set_flag_bits(data: bytes, name: str, bits: int) -> bytes:
    """OR ``bits`` into the general-purpose flags of ``name`` (local and central headers);
    zipfile resets them when writing, so this patches the bytes."""
    out = bytearray(data)
    encoded = name.encode()
    for sig, flag_at, len_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        start = 0
        while (o := out.find(sig, start)) >= 0:
            start = o + 4
            n = int.from_bytes(out[o + len_at : o + len_at + 2], "little")
            if bytes(out[o + name_at : o + name_at + n]) == encoded:
                flags = int.from_bytes(out[o + flag_at : o + flag_at + 2], "little") | bits
                out[o + flag_at : o + flag_at + 2] = flags.to_bytes(2, "little")
    return bytes(out)
