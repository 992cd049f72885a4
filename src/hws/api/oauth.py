"""The authorization server's HTTP face: discovery, JWKS, token endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import quote_plus, unquote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from starlette._utils import get_route_path
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hws.api import availability
from hws.api.metrics import TOKEN_OUTCOMES, TOKENS_ISSUED_BY, Observed
from hws.api.openapi_responses import json_content, oauth_errors, ref
from hws.api.ratelimit import Limiter, Refused
from hws.api.security import service_of, source_address
from hws.auth.assertion import JWT_BEARER
from hws.auth.dpop import DPOP_ALGS
from hws.auth.errors import OAuthError, invalid_request
from hws.config import Settings
from hws.domain.scopes import ALL_SCOPES

if TYPE_CHECKING:
    from hws.service import Service

log = logging.getLogger("hws.api")


TOKEN_RESPONSES = {
    200: {"description": "An access token (RFC 6749 §5.1)", "content": json_content(ref("AccessTokenResponse"))},
    **oauth_errors(
        400,
        401,
        413,
        429,
        503,
        described={
            400: "invalid_request, unsupported_grant_type, invalid_grant or invalid_scope (RFC 6749 §5.2)",
            401: "invalid_client: the client assertion was not accepted",
            413: "invalid_request: the token request is too large",
            429: "invalid_request: too many token requests from this address (Retry-After)",
            503: "temporarily_unavailable: the database is unavailable (Retry-After)",
        },
    ),
}


def _path(url: str) -> str:
    return urlsplit(url).path


_ISSUED = TOKEN_OUTCOMES.labels("issued")
_JSON_NO_STORE = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


async def _send_json(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [*_JSON_NO_STORE, (b"content-length", str(len(body)).encode("ascii")), *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error_body(exc: OAuthError) -> bytes:
    return json.dumps(exc.body()).encode()


def _limit(app: Any, address: object) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
    """Token requests per source address: 429 (RFC 6749-style JSON) when over budget."""
    limiter: Limiter | None = getattr(app.state, "token_limiter", None)
    if limiter is None or limiter.rate <= 0:
        return None
    try:
        limiter.release(limiter.admit(str(address)).key)  # a rate only: nothing stays in flight
    except Refused as exc:
        TOKEN_OUTCOMES.labels("rate_limited").inc()
        headers = [(b"retry-after", str(exc.retry_after).encode("ascii")), *exc.headers]
        body = {"error": "invalid_request", "error_description": f"too many token requests; retry after {exc.retry_after} s"}
        return json.dumps(body).encode(), headers
    return None


def _nonce_header(service: Service) -> list[tuple[bytes, bytes]]:
    """``DPoP-Nonce``: the nonce the client's next proof carries (RFC 9449 §8.1)."""
    nonce = service.tokens.nonce()
    return [(b"dpop-nonce", nonce.encode("ascii"))] if nonce else []


def discovery_document(settings: Settings) -> dict[str, object]:
    return {
        "issuer": settings.issuer,
        "token_endpoint": settings.token_endpoint,
        "jwks_uri": settings.jwks_uri,
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256"],
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "scopes_supported": list(ALL_SCOPES),
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"],
        "service_documentation": f"{settings.public_url}/docs",
        "hws_api_base_url": settings.api_url,
    }


#: at most this many fields in a token request (a form with more is refused)
MAX_FORM_FIELDS = 32

#: what ``unquote`` makes of the encoded values every token request sends (the assertion
#: type, as ``urlencode`` encodes it), looked up instead of decoded each time
_DECODED = {quote_plus(value, safe=""): value for value in (JWT_BEARER,)}


def _parse_form(body: bytes) -> dict[str, list[str]]:
    """The form's fields, as ``parse_qs(text, keep_blank_values=True, strict_parsing=True,
    max_num_fields=32)`` gives them (an empty body: no field), without its per-field
    work where a name or value has nothing to decode."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise invalid_request("the token request must be URL-encoded ASCII") from None
    if not text:
        return {}
    if text.count("&") >= MAX_FORM_FIELDS:
        raise invalid_request("the token request is not valid form encoding")
    form: dict[str, list[str]] = {}
    for field in text.split("&"):
        name, equals, value = field.partition("=")
        if not equals:  # strict parsing: every field is name=value (an empty one is not)
            raise invalid_request("the token request is not valid form encoding")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "))
        if "%" in value or "+" in value:
            value = _DECODED.get(value) or unquote(value.replace("+", " "))
        values = form.get(name)
        if values is None:
            form[name] = [value]
        else:
            values.append(value)
    return form


async def _read_form(headers: dict[bytes, bytes], receive: Receive, limit: int) -> dict[str, list[str]]:
    content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if content_type != b"application/x-www-form-urlencoded":
        raise invalid_request("the token request must be application/x-www-form-urlencoded")
    declared = headers.get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        raise OAuthError("invalid_request", f"the token request exceeds {limit} bytes", status=413)
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        body += message.get("body", b"")
        if len(body) > limit:
            raise OAuthError("invalid_request", f"the token request exceeds {limit} bytes", status=413)
        if not message.get("more_body", False):
            return _parse_form(body)


class TokenEndpoint:
    """The token endpoint as a plain ASGI app: the form is read and answered directly,
    without the framework's request and dependency machinery (it is the busiest route,
    and its work is small). The route documented in the OpenAPI document is the same
    path; this app is registered before it and answers every ``POST``."""

    def __init__(self, path: str) -> None:
        self.path = path  # what the metrics middleware labels the request with

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        app = scope["app"]
        service: Service = app.state.service
        headers: dict[bytes, bytes] = {}
        proofs: list[str] = []  # every DPoP header (RFC 9449 §4.3: exactly one is accepted)
        for name, value in scope["headers"]:
            if name == b"dpop":
                proofs.append(value.decode("latin-1"))
            elif name not in headers:
                headers[name] = value
        try:
            address = source_address(scope, service.trusted_proxies)  # the one place (rule 18)
            limited = _limit(app, address)
            if limited is not None:
                await _send_json(send, 429, *limited)
                return
            form = await _read_form(headers, receive, service.settings.token_request_max_bytes)
            authorization = headers.get(b"authorization")
            grant = await service.tokens.grant_async(
                form,
                authorization=authorization.decode("latin-1") if authorization is not None else None,
                address=address,
                dpop_proofs=proofs,
            )
        except OAuthError as exc:
            TOKEN_OUTCOMES.labels(exc.error).inc()
            dpop_error = exc.error in ("use_dpop_nonce", "invalid_dpop_proof")
            await _send_json(send, exc.status, _error_body(exc), _nonce_header(service) if proofs or dpop_error else None)
            return
        except ClientDisconnect:
            return
        except Exception as exc:
            if not availability.is_outage(exc):
                raise
            TOKEN_OUTCOMES.labels("temporarily_unavailable").inc()
            await availability.token_unavailable(Request(scope), exc)(scope, receive, send)
            return
        _ISSUED.inc()
        TOKENS_ISSUED_BY(grant.client.client_id).inc()
        await _send_json(send, 200, grant.json(), _nonce_header(service) if proofs else None)


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["oauth2"])
    issuer_path = _path(settings.issuer)

    @router.get(f"{issuer_path}/.well-known/openid-configuration", summary="OpenID/OAuth2 discovery")
    async def openid_configuration(request: Request) -> JSONResponse:
        return JSONResponse(discovery_document(service_of(request).settings), headers={"Cache-Control": "max-age=300"})

    # RFC 8414 §3: the well-known segment goes between the host and the issuer's path (the
    # metadata location FAPI 2.0 names, and where the conformance suite looks by default)
    @router.get(f"/.well-known/oauth-authorization-server{issuer_path}", summary="OAuth 2.0 authorization server metadata")
    async def authorization_server_metadata(request: Request) -> JSONResponse:
        return await openid_configuration(request)

    @router.get(_path(settings.jwks_uri), summary="The service's public signing keys (JWKS)")
    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(service_of(request).keyring.jwks(), headers={"Cache-Control": "max-age=60"})

    # The token endpoint: a plain ASGI app answers it (registered first, so it matches
    # first); the FastAPI route below only documents it in the OpenAPI document.
    token_path = _path(settings.token_endpoint)
    router.routes.append(Route(token_path, endpoint=TokenEndpoint(token_path), methods=["POST"]))

    @router.post(
        token_path,
        summary="Token endpoint: client_credentials with private_key_jwt (RFC 7523), optionally DPoP-bound (RFC 9449)",
        response_class=Response,
        responses=TOKEN_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type", "client_assertion_type", "client_assertion"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                "scope": {"type": "string"},
                                "client_assertion_type": {"type": "string", "enum": [JWT_BEARER]},
                                "client_assertion": {"type": "string"},
                                "client_id": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def token() -> Response:  # pragma: no cover - documents the route; TokenEndpoint answers
        raise AssertionError("the token endpoint is answered by TokenEndpoint")

    return router


class _TokenFastPath:
    """Outermost ASGI layer: ``POST`` to the token endpoint goes straight to
    :class:`TokenEndpoint`, past the middleware stack (it records its own metrics and
    answers its own errors); everything else goes to the stack."""

    def __init__(self, app: ASGIApp, endpoint: TokenEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or get_route_path(scope) != self.endpoint.path:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":  # RFC 6749 §3.2: POST only; answered in the token endpoint's own terms
            body = b'{"error":"invalid_request","error_description":"the token endpoint accepts POST only"}'
            await _send_json(send, 405, body, [(b"allow", b"POST")])
            return
        observed = Observed(send)
        try:
            await self.endpoint(scope, receive, observed.send)
        except Exception:
            log.exception("unhandled error", extra={"event": "http.error", "path": self.endpoint.path})
            if observed.status == 500:  # nothing sent yet
                await _send_json(
                    observed.send,
                    500,
                    b'{"error":"server_error","error_description":"an unexpected error occurred; it has been logged"}',
                )
        finally:
            observed.record("POST", self.endpoint.path)


class _StackOverride(Protocol):
    """Starlette builds the stack once, on the first call, with ``build_middleware_stack``;
    replacing it on the instance wraps what it builds. Its stubs declare a method, which
    mypy will not let be assigned; seen through this view, the replacement is still checked."""

    build_middleware_stack: Callable[[], ASGIApp]


def install(app: FastAPI) -> None:
    """Answer the token endpoint ahead of the middleware stack (see :class:`_TokenFastPath`).

    Call once, after the routers and middleware are added (``create_app``)."""
    token_path = _path(app.state.service.settings.token_endpoint)
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return _TokenFastPath(build(), TokenEndpoint(token_path))

    cast(_StackOverride, app).build_middleware_stack = build_middleware_stack
