"""Writers for the API's own XML documents (namespace ``urn:hws:xml:api:v1``) and for
RFC 9457 problem details in XML, plus the XSDs that describe them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

from lxml import etree

from hws.st96.namespaces import HWS, PROBLEM

_H = f"{{{HWS}}}"
_P = f"{{{PROBLEM}}}"


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _child(parent: etree._Element, tag: str, text: str | None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = text
    return element


def ping_response(message: str, client_id: str, office: str, when: datetime) -> bytes:
    root = etree.Element(f"{_H}PingResponse", nsmap={"hws": HWS})
    _child(root, f"{_H}Message", message)
    _child(root, f"{_H}ClientIdentifier", client_id)
    _child(root, f"{_H}OfficeCode", office)
    _child(root, f"{_H}ResponseDateTime", when.isoformat(timespec="seconds").replace("+00:00", "Z"))
    return _serialize(root)


@dataclass(frozen=True)
class ProblemItem:
    code: str
    detail: str
    pointer: str | None = None


def problem_document(
    *,
    type_uri: str,
    title: str,
    status: int,
    code: str,
    detail: str | None = None,
    instance: str | None = None,
    errors: Sequence[ProblemItem] = (),
) -> bytes:
    root = etree.Element(f"{_P}problem", nsmap={None: PROBLEM})
    _child(root, f"{_P}type", type_uri)
    _child(root, f"{_P}title", title)
    _child(root, f"{_P}status", str(status))
    if detail is not None:
        _child(root, f"{_P}detail", detail)
    if instance is not None:
        _child(root, f"{_P}instance", instance)
    _child(root, f"{_P}code", code)
    if errors:
        bag = etree.SubElement(root, f"{_P}errors")
        for item in errors:
            entry = etree.SubElement(bag, f"{_P}i")
            _child(entry, f"{_P}code", item.code)
            _child(entry, f"{_P}detail", item.detail)
            if item.pointer is not None:
                _child(entry, f"{_P}pointer", item.pointer)
    return _serialize(root)


@cache
def schema(name: str) -> etree.XMLSchema:
    """One of our shipped XSDs: ``hws-api-v1.xsd`` or ``problem-rfc9457.xsd``."""
    data = resources.files("hws.st96").joinpath("schemas", name).read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.fromstring(data, parser))
