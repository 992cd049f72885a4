"""Hardened XML parsing: no DTD, no entities, no network, bounded size.

Every XML document that enters hws from outside (packages, server responses read by
the office kit) goes through :func:`parse`. A document that declares a DOCTYPE is
refused outright, whatever it contains: ST.96 never needs one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class XMLRejected(Exception):
    """The document is not acceptable XML; ``code`` is stable, ``line`` may be known."""

    code: str
    message: str
    line: int | None = None

    def __str__(self) -> str:  # pragma: no cover - trivial
        where = f" (line {self.line})" if self.line else ""
        return f"{self.code}: {self.message}{where}"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )


def parse(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse ``data`` safely or raise :class:`XMLRejected`."""
    if len(data) > max_bytes:
        raise XMLRejected("xml-too-large", f"XML document exceeds {max_bytes} bytes")
    try:
        tree = etree.fromstring(data, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise XMLRejected("xml-not-well-formed", str(exc.msg), exc.lineno) from None
    except ValueError as exc:  # e.g. unicode strings with encoding declarations
        raise XMLRejected("xml-not-well-formed", str(exc)) from None
    docinfo: Any = tree.docinfo  # lxml-stubs lack DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XMLRejected("xml-doctype-forbidden", "XML must not declare a DOCTYPE (DTDs and entities are refused)")
    return tree
