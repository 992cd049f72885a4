"""A package's XML as the console shows it: parsed by the hardened parser
(:mod:`hws.st96.safexml`: no DTD, no entities, no network), indented, and returned as
text for the page to print, escaped, inside ``<pre>``. It is never rendered as markup."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from hws.st96 import safexml

#: the longest XML document the page prints (a longer one is offered as a download)
MAX_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class XmlView:
    """The indented document, or why it cannot be shown (``text`` is then ``None``)."""

    text: str | None
    problem: str | None = None


def too_large(size: int, max_bytes: int = MAX_BYTES) -> XmlView:
    return XmlView(None, f"the XML has {size:,} bytes, more than the {max_bytes:,} shown here; download it")


def pretty(data: bytes, *, max_bytes: int = MAX_BYTES) -> XmlView:
    if len(data) > max_bytes:
        return too_large(len(data), max_bytes)
    try:
        tree = safexml.parse(data, max_bytes=max_bytes)
    except safexml.XMLRejected as exc:
        return XmlView(None, f"the XML cannot be shown: {exc}")
    etree.indent(tree, space="  ")
    return XmlView(etree.tostring(tree, encoding="unicode", pretty_print=True))
