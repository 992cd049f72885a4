"""OpenAPI declarations the routes share: RFC 9457 problems (XML and JSON), the token
endpoint's RFC 6749 errors, and the JSON shapes of the JSON answers.

Routes spread :func:`problems` into ``responses=`` so each documents exactly the error
statuses it can answer; :func:`install` adds the shared component schemas to the
document and drops FastAPI's automatic ``422 HTTPValidationError`` (invalid parameters
are answered ``400 invalid-request`` by the app's handler, never that shape).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from fastapi import FastAPI

from hws.api.problems import CATALOGUE
from hws.api.representations import SCHEMAS as DOCUMENT_SCHEMAS
from hws.domain.scopes import ADMIN, PUBLICATIONS, REQUESTS
from hws.domain.scopes import DESCRIPTIONS as SCOPE_DESCRIPTIONS

Responses = dict[int | str, dict[str, Any]]

PROBLEM_XML = "application/problem+xml"
PROBLEM_JSON = "application/problem+json"

_REF = "#/components/schemas/"

#: RFC 9457 problem details as this service renders them in JSON (``problems.render``).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code", "instance"],
    "properties": {
        "type": {"type": "string", "description": "urn:hws:problem:<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "enum": sorted(CATALOGUE)},
        "instance": {"type": "string", "description": "The request path (a URI reference)"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code"],
                "properties": {"code": {"type": "string"}, "detail": {"type": "string"}, "pointer": {"type": "string"}},
            },
        },
    },
}

#: The token endpoint's errors (RFC 6749 §5.2).
OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}

TOKEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "scope"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer", "minimum": 1},
        "scope": {"type": "string"},
    },
}

_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}

CLIENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["client_id", "office", "name", "examining", "scopes", "default_scopes", "networks", "active"],
    "properties": {
        "client_id": {"type": "string"},
        "office": {"type": "string"},
        "name": {"type": "string"},
        "examining": {"type": "boolean"},
        "scopes": _STRINGS,
        "default_scopes": _STRINGS,
        "networks": _STRINGS,
        "active": {"type": "boolean"},
        "not_before": _NULLABLE_STRING,
        "not_after": _NULLABLE_STRING,
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kid", "alg"],
                "properties": {
                    "kid": {"type": "string"},
                    "alg": {"type": "string"},
                    "subject": {"type": "string"},
                    "not_before": {"type": "string"},
                    "not_after": {"type": "string"},
                    "added_at": {"type": "string"},
                },
            },
        },
    },
}

SERVICE_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["srn", "import_id", "office", "transaction", "status"],
    "properties": {
        "srn": {"type": "string", "pattern": "^970[0-9]{6}$"},
        "import_id": {"type": "string"},
        "office": {"type": "string"},
        "transaction": {"type": "string"},
        "status": {"type": "string"},
        "office_reference": _NULLABLE_STRING,
        "irn": _NULLABLE_STRING,
        "target_irn": _NULLABLE_STRING,
        "recorded_against": _NULLABLE_STRING,
        "expected_publication": _NULLABLE_STRING,
        "regularization_deadline": _NULLABLE_STRING,
        "fee_shortfall": {"type": ["boolean", "null"]},
        "registered_at": _NULLABLE_STRING,
        "created_at": _NULLABLE_STRING,
        "updated_at": _NULLABLE_STRING,
        "history": {"type": "array", "items": {"type": "object"}},
        "data": {},
    },
}

PUBLICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["week", "bulletin_number", "publication_date", "size", "sha256", "published_at", "url"],
    "properties": {
        "week": {"type": "string", "pattern": "^[0-9]{6}$"},
        "bulletin_number": {"type": "string"},
        "publication_date": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "registrations": {"type": "integer", "minimum": 0},
        "decisions": {"type": "integer", "minimum": 0},
        "published_at": {"type": "string"},
        "url": {"type": "string"},
    },
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Problem": PROBLEM_SCHEMA,
    "OAuthError": OAUTH_ERROR_SCHEMA,
    "AccessTokenResponse": TOKEN_SCHEMA,
    "Client": CLIENT_SCHEMA,
    "ServiceRequest": SERVICE_REQUEST_SCHEMA,
    "Publication": PUBLICATION_SCHEMA,
}


def ref(name: str) -> dict[str, str]:
    """A ``$ref`` to one of :data:`COMPONENTS`."""
    if name not in COMPONENTS:
        raise KeyError(name)
    return {"$ref": _REF + name}


def json_content(schema: Mapping[str, Any], media_type: str = "application/json") -> dict[str, Any]:
    return {media_type: {"schema": dict(schema)}}


#: What each error status means on most routes; a route may say it more precisely.
DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request: a parameter, header or body is not valid (invalid-request)",
    401: "Missing or invalid access token (invalid-token; WWW-Authenticate)",
    403: "The access token's scope does not cover the call (insufficient-scope)",
    404: "No such resource, or not this office's (not-found)",
    408: "The request body stopped arriving (request-timeout); nothing was stored",
    413: "Request body too large (payload-too-large); nothing was stored",
    415: "Unsupported request media type (unsupported-media-type)",
    416: "The requested range is outside the file (range-not-satisfiable; Content-Range)",
    422: "Well-formed but cannot be processed (validation-failed)",
    410: "Gone (cursor-expired)",
    429: "Too many requests from this client (rate-limited; Retry-After, RateLimit)",
    503: "The database or blob store is temporarily unavailable (unavailable; Retry-After)",
}

#: The statuses any call with a bearer token can answer besides its own.
AUTHENTICATED = (401, 403, 429, 503)


def problem(description: str) -> dict[str, Any]:
    """One problem response: ``application/problem+xml`` by default, ``+json`` on request."""
    return {
        "description": description,
        "content": {PROBLEM_XML: {"schema": {"type": "string"}}, PROBLEM_JSON: {"schema": ref("Problem")}},
    }


def problems(*statuses: int, described: Mapping[int, str] | None = None) -> Responses:
    """``responses=`` entries for the given error statuses (:data:`DESCRIPTIONS`, or
    ``described`` where the route has a more precise word)."""
    texts = {**DESCRIPTIONS, **(described or {})}
    return {status: problem(texts[status]) for status in statuses}


def oauth_errors(*statuses: int, described: Mapping[int, str]) -> Responses:
    """The token endpoint's error responses: RFC 6749 JSON, never problem details."""
    return {status: {"description": described[status], "content": json_content(ref("OAuthError"))} for status in statuses}


class _OpenAPIOverride(Protocol):
    """FastAPI's documented way to change the document: replace ``app.openapi`` on the
    instance. Its stubs declare a method, which mypy will not let be assigned; seen through
    this view, the replacement's signature is still checked."""

    openapi: Callable[[], dict[str, Any]]


#: The scope each tag's operations need (``None``: any valid token). An operation that
#: can answer 401 gets ``security``: OAuth2 with its scope, or a bearer token.
SCOPE_OF_TAG: dict[str, str | None] = {
    "hws": None,
    "requests": REQUESTS,
    "events": REQUESTS,
    "publications": PUBLICATIONS,
    "operator": ADMIN,
}
#: Tags whose operations take no access token (the token endpoint authenticates the client itself).
UNSECURED_TAGS = frozenset({"oauth2", "operations"})


def security_schemes(token_url: str) -> dict[str, Any]:
    """The two ways to call: OAuth2 client credentials at ``token_url`` (the office kit,
    private_key_jwt), or a bearer token obtained that way (``hws token``; what the
    Swagger UI's Authorize button takes)."""
    return {
        "OAuth2": {
            "type": "oauth2",
            "description": "Client credentials grant authenticated with private_key_jwt (RFC 7523; ES256 or PS256 "
            "assertion signed by the office's enrolled key). A browser cannot sign the assertion: get a token "
            "with `hws token` and use BearerToken.",
            "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": dict(SCOPE_DESCRIPTIONS)}},
        },
        "BearerToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from the token endpoint (`hws token` prints one).",
        },
    }


def _secure(document: dict[str, Any]) -> None:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if "401" not in operation.get("responses", {}) or set(operation.get("tags", ())) & UNSECURED_TAGS:
                continue
            tags = [t for t in operation.get("tags", ()) if t in SCOPE_OF_TAG]
            if not tags:
                raise ValueError(f"operation {operation.get('operationId')} answers 401 but no tag says its scope")
            scope = SCOPE_OF_TAG[tags[0]]
            operation["security"] = [{"OAuth2": [scope] if scope else []}, {"BearerToken": []}]


def install(app: FastAPI, *, token_url: str) -> None:
    """Make ``app.openapi()`` carry :data:`COMPONENTS` (and the status documents'
    schemas), the security schemes, and no automatic 422."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                automatic = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
                if automatic.get("$ref") == _REF + "HTTPValidationError":
                    del responses["422"]
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas.update(COMPONENTS)
        schemas.update(DOCUMENT_SCHEMAS)
        document["components"]["securitySchemes"] = security_schemes(token_url)
        _secure(document)
        app.openapi_schema = document
        return document

    cast(_OpenAPIOverride, app).openapi = openapi
