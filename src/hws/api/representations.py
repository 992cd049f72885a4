"""The status documents in their two representations: XML (``hws-api-v1.xsd``, WIPO's
default and what the office kit reads) and JSON, chosen by the request's ``Accept``
(JSON only when it prefers ``application/json`` to XML; no ``Accept``, ``*/*`` or
``application/xml``: XML). Both carry the same fields; every such answer says
``Vary: Accept``, and the JSON one has its own ETag (``…-json"``), so a cache or an
``If-None-Match`` never mixes the two.

The JSON shapes are :data:`SCHEMAS` (in the OpenAPI document as components), with an
example of each representation (:func:`examples`) written by the same code that answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hws.api.problems import wants_json
from hws.domain.lifecycle import ImportState, Status
from hws.st96.api_documents import (
    ImportStatusView,
    PackageProblem,
    RequestStatusView,
    import_status,
    ping_response,
    request_status,
)

XML = "application/xml"
JSON = "application/json"


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def import_status_json(view: ImportStatusView) -> dict[str, Any]:
    """``hws:ImportStatus`` as JSON."""
    return {
        "import_id": view.import_id,
        "status": str(view.status),
        "received_at": _when(view.received_at),
        "size": view.size,
        "sha256": view.sha256,
        "processed_at": _when(view.processed_at),
        "transaction": view.transaction,
        "office_reference": view.office_reference,
        "srn": view.srn,
        "problems": [
            {"code": p.code, "severity": p.severity, "message": p.message, "entry": p.entry, "path": p.path, "line": p.line}
            for p in view.problems
        ],
    }


def request_status_json(view: RequestStatusView) -> dict[str, Any]:
    """``hws:ServiceRequestStatus`` as JSON."""
    return {
        "import_id": view.import_id,
        "srn": view.srn,
        "status": str(view.status),
        "transaction": view.transaction,
        "office": view.office,
        "office_reference": view.office_reference,
        "irn": view.irn,
        "expected_publication": _day(view.expected_publication),
        "regularization_deadline": _day(view.regularization_deadline),
        "last_change": _when(view.last_change),
    }


def ping_json(message: str, client_id: str, office: str, when: datetime) -> dict[str, Any]:
    """``hws:PingResponse`` as JSON."""
    return {"message": message, "client_id": client_id, "office": office, "response_datetime": _when(when)}


def json_etag(etag: str) -> str:
    """The JSON representation's entity tag, distinct from the XML one's."""
    return f'{etag[:-1]}-json"' if etag.endswith('"') else f"{etag}-json"


def negotiated(
    request: Request,
    *,
    xml: bytes | Callable[[], bytes],
    as_json: Callable[[], Mapping[str, Any]],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    etag: str | None = None,
    if_none_match: bool = False,
) -> Response:
    """The document in the representation ``Accept`` prefers (each written only when it is
    the one sent); 304 when ``if_none_match`` and the request's ``If-None-Match`` names
    that representation's ETag."""
    use_json = wants_json(request)
    answer = {**(headers or {}), "Vary": "Accept"}
    if etag is not None:
        answer["ETag"] = json_etag(etag) if use_json else etag
        if if_none_match and _matches(request, answer["ETag"]):
            return Response(status_code=304, headers=answer)
    if use_json:
        body = json.dumps(dict(as_json()), ensure_ascii=False, separators=(",", ":")).encode()
        return Response(body, status_code=status_code, media_type=JSON, headers=answer)
    return Response(xml if isinstance(xml, bytes) else xml(), status_code=status_code, media_type=XML, headers=answer)


def _matches(request: Request, etag: str) -> bool:
    candidates = [t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")]
    return etag in candidates or "*" in candidates


# --------------------------------------------------------------------------- OpenAPI

_TEXT: dict[str, Any] = {"type": "string"}
_NULLABLE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_NULLABLE_DAY: dict[str, Any] = {"type": ["string", "null"], "format": "date"}
_INSTANT: dict[str, Any] = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ImportStatus": {
        "type": "object",
        "description": "hws:ImportStatus in JSON. Pending until validated; Imported with the SRN of the "
        "service request it opened; Rejected with every problem found.",
        "required": ["import_id", "status", "received_at", "size", "sha256", "problems"],
        "properties": {
            "import_id": _TEXT,
            "status": {"type": "string", "enum": [s.value for s in ImportState]},
            "received_at": _INSTANT,
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "processed_at": {"type": ["string", "null"], "format": "date-time"},
            "transaction": _NULLABLE_TEXT,
            "office_reference": _NULLABLE_TEXT,
            "srn": _NULLABLE_TEXT,
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "severity", "message"],
                    "properties": {
                        "code": _TEXT,
                        "severity": {"type": "string", "enum": ["error", "warning"]},
                        "message": _TEXT,
                        "entry": _NULLABLE_TEXT,
                        "path": _NULLABLE_TEXT,
                        "line": {"type": ["integer", "null"]},
                    },
                },
            },
        },
    },
    "ServiceRequestStatus": {
        "type": "object",
        "description": "hws:ServiceRequestStatus in JSON.",
        "required": ["import_id", "srn", "status", "transaction", "office", "last_change"],
        "properties": {
            "import_id": _TEXT,
            "srn": {"type": "string", "pattern": "^970[0-9]{6}$"},
            "status": {"type": "string", "enum": [s.value for s in Status]},
            "transaction": _TEXT,
            "office": _TEXT,
            "office_reference": _NULLABLE_TEXT,
            "irn": _NULLABLE_TEXT,
            "expected_publication": _NULLABLE_DAY,
            "regularization_deadline": _NULLABLE_DAY,
            "last_change": _INSTANT,
        },
    },
    "PingResponse": {
        "type": "object",
        "description": "hws:PingResponse in JSON.",
        "required": ["message", "client_id", "office", "response_datetime"],
        "properties": {"message": _TEXT, "client_id": _TEXT, "office": _TEXT, "response_datetime": _INSTANT},
    },
}

#: Where each XML document is described (the service serves its XSD, see ``schemas``).
XML_ELEMENTS = {
    "ImportStatus": "hws:ImportStatus",
    "ServiceRequestStatus": "hws:ServiceRequestStatus",
    "PingResponse": "hws:PingResponse",
}

_NOW = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)
_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
_EXAMPLES: dict[str, tuple[bytes, dict[str, Any]]] = {}


def examples() -> dict[str, tuple[bytes, dict[str, Any]]]:
    """For each document: an example in XML and the same in JSON, written by the code
    that answers (so the documentation cannot drift from the answers)."""
    if not _EXAMPLES:
        imported = ImportStatusView(
            import_id="01HZX3Q5N1V9B6R5T2J8K4M7PD", status=ImportState.IMPORTED, received_at=_NOW, size=48213,
            sha256=_SHA, processed_at=_NOW, transaction="HagueApplication", office_reference="KR-2027-0001",
            srn="970000123",
        )  # fmt: skip
        rejected = ImportStatusView(
            import_id="01HZX3Q9ZK4V1M2N3B4C5D6E7F", status=ImportState.REJECTED, received_at=_NOW, size=1024,
            sha256=_SHA, processed_at=_NOW,
            problems=[PackageProblem("xsd-invalid", "error", "Element 'com:ApplicantBag': Missing child element(s).",
                                     "KR-2027-0001.xml", "/dgn:HagueOfficeToIBTransaction/dgn:HagueApplication", 42)],
        )  # fmt: skip
        request = RequestStatusView(
            import_id=imported.import_id, srn="970000123", status=Status.REGISTERED, transaction="HagueApplication",
            office="KR", last_change=_NOW, office_reference="KR-2027-0001", irn="DM/234567",
            expected_publication=date(2027, 2, 5),
        )  # fmt: skip
        _EXAMPLES["ImportStatus"] = (import_status(imported), import_status_json(imported))
        _EXAMPLES["ImportStatusRejected"] = (import_status(rejected), import_status_json(rejected))
        _EXAMPLES["ServiceRequestStatus"] = (request_status(request), request_status_json(request))
        _EXAMPLES["PingResponse"] = (
            ping_response("Hello KIPO", "kr-3fa2c1d0e9b8", "KR", _NOW),
            ping_json("Hello KIPO", "kr-3fa2c1d0e9b8", "KR", _NOW),
        )
    return _EXAMPLES


def content(document: str, xsd_url: str, *examples_of: str) -> dict[str, Any]:
    """A 200 answer's ``content``: the XML (described by the XSD, with examples) and JSON
    (the component schema, with the same examples)."""
    names = examples_of or (document,)
    return {
        XML: {
            "schema": {
                "type": "string",
                "description": f"{XML_ELEMENTS[document]} (namespace urn:hws:xml:api:v1), as {xsd_url} defines it",
                "externalDocs": {"description": "hws-api-v1.xsd", "url": xsd_url},
            },
            "examples": {name: {"value": examples()[name][0].decode()} for name in names},
        },
        JSON: {
            "schema": {"$ref": f"#/components/schemas/{document}"},
            "examples": {name: {"value": examples()[name][1]} for name in names},
        },
    }


def schema_url(prefix: str, name: str = "hws-api-v1.xsd") -> str:
    """Where the service serves one of its XSDs (``GET {prefix}/schemas/{name}``, no token)."""
    return f"{prefix}/schemas/{name}"


def status_content(document: str, prefix: str, *examples_of: str) -> dict[str, Any]:
    """:func:`content` with the XSD's URL under the API ``prefix``."""
    return content(document, schema_url(prefix), *examples_of)
