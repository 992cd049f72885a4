"""The authorization server's HTTP face: discovery, JWKS, token endpoint."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from hws.api import availability
from hws.api.metrics import TOKEN_OUTCOMES
from hws.api.openapi_responses import json_content, oauth_errors, ref
from hws.api.ratelimit import Limiter, Refused
from hws.api.security import service_of
from hws.auth.assertion import JWT_BEARER
from hws.auth.errors import OAuthError, invalid_request
from hws.auth.source_address import client_address
from hws.config import Settings
from hws.domain.scopes import ALL_SCOPES

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

TOKEN_RESPONSES = {
    200: {"description": "An access token (RFC 6749 §5.1)", "content": json_content(ref("AccessTokenResponse"))},
    **oauth_errors(
        400, 401, 413, 429, 503,
        described={
            400: "invalid_request, unsupported_grant_type, invalid_grant or invalid_scope (RFC 6749 §5.2)",
            401: "invalid_client: the client assertion was not accepted",
            413: "invalid_request: the token request is too large",
            429: "invalid_request: too many token requests from this address (Retry-After)",
            503: "temporarily_unavailable: the database is unavailable (Retry-After)",
        },
    ),  # fmt: skip
}


def _path(url: str) -> str:
    return urlsplit(url).path


def _error(exc: OAuthError) -> Response:
    return Response(
        json.dumps(exc.body()), status_code=exc.status, media_type="application/json", headers=NO_STORE
    )


def _limit(request: Request, key: str) -> Response | None:
    """Token requests per source address: 429 (RFC 6749-style JSON) when over budget."""
    limiter: Limiter | None = getattr(request.app.state, "token_limiter", None)
    if limiter is None or limiter.rate <= 0:
        return None
    try:
        limiter.release(limiter.admit(key).key)  # a rate only: nothing stays in flight
    except Refused as exc:
        TOKEN_OUTCOMES.labels("rate_limited").inc()
        headers = {**NO_STORE, "Retry-After": str(exc.retry_after), **{k.decode(): v.decode() for k, v in exc.headers}}
        body = {"error": "invalid_request", "error_description": f"too many token requests; retry after {exc.retry_after} s"}
        return Response(json.dumps(body), status_code=429, media_type="application/json", headers=headers)
    return None


def discovery_document(settings: Settings) -> dict[str, object]:
    return {
        "issuer": settings.issuer,
        "token_endpoint": settings.token_endpoint,
        "jwks_uri": settings.jwks_uri,
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256"],
        "scopes_supported": list(ALL_SCOPES),
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"],
        "service_documentation": f"{settings.public_url}/docs",
        "hws_api_base_url": settings.api_url,
    }


async def _read_form(request: Request, limit: int) -> dict[str, list[str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise invalid_request("the token request must be application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise OAuthError("invalid_request", f"the token request exceeds {limit} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise OAuthError("invalid_request", f"the token request exceeds {limit} bytes", status=413)
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise invalid_request("the token request must be URL-encoded ASCII") from None
    try:
        return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=32)
    except ValueError:
        raise invalid_request("the token request is not valid form encoding") from None


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["oauth2"])
    issuer_path = _path(settings.issuer)

    @router.get(f"{issuer_path}/.well-known/openid-configuration", summary="OpenID/OAuth2 discovery")
    async def openid_configuration(request: Request) -> JSONResponse:
        return JSONResponse(discovery_document(service_of(request).settings), headers={"Cache-Control": "max-age=300"})

    @router.get(_path(settings.jwks_uri), summary="The service's public signing keys (JWKS)")
    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(service_of(request).keyring.jwks(), headers={"Cache-Control": "max-age=60"})

    @router.post(
        _path(settings.token_endpoint),
        summary="Token endpoint: client_credentials with private_key_jwt (RFC 7523)",
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
    async def token(request: Request) -> Response:
        service = service_of(request)
        try:
            address = client_address(
                request.client.host if request.client else None,
                request.headers.getlist("x-forwarded-for"),
                service.trusted_proxies,
            )
            limited = _limit(request, str(address))
            if limited is not None:
                return limited
            form = await _read_form(request, service.settings.token_request_max_bytes)
            grant = await run_in_threadpool(
                service.tokens.grant, form, authorization=request.headers.get("authorization"), address=address
            )
        except OAuthError as exc:
            TOKEN_OUTCOMES.labels(exc.error).inc()
            return _error(exc)
        except Exception as exc:
            if not availability.is_outage(exc):
                raise
            TOKEN_OUTCOMES.labels("temporarily_unavailable").inc()
            return availability.token_unavailable(request, exc)
        TOKEN_OUTCOMES.labels("issued").inc()
        return Response(json.dumps(grant.body()), media_type="application/json", headers=NO_STORE)

    return router
