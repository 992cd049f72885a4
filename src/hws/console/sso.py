"""Single sign-on for the console with an OpenID Connect provider.

The authorization code flow with PKCE (S256), ``state`` and ``nonce``, through authlib's
OAuth 2 client; the ID token checked with authlib's OpenID Connect claims (signature by
the provider's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``, ``at_hash``); the operator's
role read from a claim (``console_oidc_role_claim``, from the ID token or else the
userinfo endpoint); the account made or updated by
:meth:`~hws.usecases.operator_accounts.OperatorAccounts.sso_sign_in`. Signing out of an
SSO session also offers signing out at the provider (RP-initiated logout) when it
supports it.

Nothing here decides who may do what: the provider vouches for the person, the claim
names the role, and the use case keeps the account.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.integrations.base_client.errors import OAuthError  # type: ignore[import-untyped]

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 fork and says so on import when only httpx is there;
    # its httpx support works (the tests drive it against node-oidc-provider) and the rest
    # of hws, the errors caught below included, is built on httpx
    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from fastapi import APIRouter, Depends, Request
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from hws.api.security import source_of
from hws.config import Settings
from hws.console.access import accounts, acting, redirect, safe_next, service
from hws.console.cookies import SESSION_COOKIE, clear_cookie, secure, set_cookie
from hws.console.paths import PREFIX
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.usecases.operator_accounts import AccountError, NewSession, OperatorAccounts, SignedIn, SignInRefused

router = APIRouter()

#: the sign-in under way (state, nonce, PKCE verifier, where to go next), between
#: /sso/start and /sso/callback only
PENDING_COOKIE = "hws_console_sso"
PENDING_PATH = f"{PREFIX}/sso"
PENDING_SECONDS = 600
#: the ID token of an SSO session, kept for ``id_token_hint`` when signing out at the provider
ID_TOKEN_COOKIE = "hws_console_sso_id"
#: how long the provider's metadata and keys are kept in this process (an unknown ``kid``
#: fetches the keys again at once)
METADATA_SECONDS = 3600.0
TIMEOUT = httpx.Timeout(10.0)
#: leeway for the ID token's times (the provider's clock and ours)
LEEWAY = 60
MAX_ID_TOKEN = 8192


class SsoFailure(Exception):
    """The sign-in cannot go on: ``message`` is shown to the person, ``reason`` is audited."""

    def __init__(
        self, message: str, reason: str, *, status_code: int = 403, subject: str | None = None, audited: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status_code = status_code
        self.subject = subject
        #: the use case wrote the audit row already
        self.audited = audited


# The provider -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderMetadata:
    """What the console uses of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    claims_parameter_supported: bool
    id_token_algorithms: tuple[str, ...]
    token_endpoint_auth_methods: tuple[str, ...]

    @classmethod
    def from_document(cls, document: dict[str, Any], expected_issuer: str) -> ProviderMetadata:
        issuer = document.get("issuer")
        # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for
        if not isinstance(issuer, str) or issuer.rstrip("/") != expected_issuer.rstrip("/"):
            raise SsoFailure(
                "The single sign-on provider's configuration names another issuer; ask an administrator.",
                f"discovery issuer {str(issuer)[:100]!r} is not {expected_issuer!r}", status_code=502,
            )  # fmt: skip
        missing = [
            key for key in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not isinstance(document.get(key), str)
        ]
        if missing:
            raise SsoFailure(
                "The single sign-on provider's configuration is incomplete; ask an administrator.",
                f"discovery lacks {', '.join(missing)}", status_code=502,
            )  # fmt: skip
        algorithms = tuple(
            a for a in document.get("id_token_signing_alg_values_supported") or ["RS256"]
            if isinstance(a, str) and a != "none" and not a.startswith("HS")  # asymmetric only: keys from the JWKS
        )  # fmt: skip
        return cls(
            issuer=issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=_optional_str(document.get("userinfo_endpoint")),
            end_session_endpoint=_optional_str(document.get("end_session_endpoint")),
            claims_parameter_supported=document.get("claims_parameter_supported") is True,
            id_token_algorithms=algorithms or ("RS256",),
            # RFC 8414 §2: client_secret_basic when the provider says nothing
            token_endpoint_auth_methods=tuple(document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]),
        )


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


#: issuer → (fetched at, metadata); jwks_uri → (fetched at, keys). Per process: any
#: process can fetch them again.
_metadata: dict[str, tuple[float, ProviderMetadata]] = {}
_keys: dict[str, tuple[float, KeySet]] = {}


async def _get_json(url: str) -> Any:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailure(
            "The single sign-on provider could not be reached; try again later or sign in with your name and password.",
            f"fetching {url[:200]}: {type(exc).__name__}: {str(exc)[:200]}", status_code=502,
        ) from exc  # fmt: skip


async def discover(issuer: str) -> ProviderMetadata:
    """The provider's metadata (``issuer`` + /.well-known/openid-configuration), cached."""
    cached = _metadata.get(issuer)
    if cached is not None and time.monotonic() - cached[0] < METADATA_SECONDS:
        return cached[1]
    document = await _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if not isinstance(document, dict):
        raise SsoFailure(
            "The single sign-on provider's configuration is not valid.", "discovery is not an object", status_code=502
        )
    metadata = ProviderMetadata.from_document(document, issuer)
    _metadata[issuer] = (time.monotonic(), metadata)
    return metadata


async def provider_keys(metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
    cached = _keys.get(metadata.jwks_uri)
    if cached is not None and not refresh and time.monotonic() - cached[0] < METADATA_SECONDS:
        return cached[1]
    document = await _get_json(metadata.jwks_uri)
    try:
        keys = KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise SsoFailure("The single sign-on provider's keys are not valid.", f"jwks: {exc}", status_code=502) from exc
    _keys[metadata.jwks_uri] = (time.monotonic(), keys)
    return keys


# The pieces ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A sign-in under way, kept in the browser between /sso/start and /sso/callback."""

    state: str
    nonce: str
    verifier: str
    next: str
    started: float

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(asdict(self), separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> Pending | None:
        if not value or len(value) > 2048:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            pending = cls(
                state=str(data["state"]), nonce=str(data["nonce"]), verifier=str(data["verifier"]),
                next=str(data["next"]), started=float(data["started"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None
        return pending

    @classmethod
    def new(cls, next_path: str) -> Pending:
        # RFC 7636 §4.1: 43 to 128 characters of [A-Za-z0-9-._~]
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(64), safe_next(next_path), time.time())

    def current(self, now: float) -> bool:
        return 0 <= now - self.started < PENDING_SECONDS


def role_from(value: object) -> Role | None:
    """The console role a claim names: a string, or a list of strings (the highest known
    role among them); ``None`` when it names none."""
    values = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
    roles = []
    for item in values:
        try:
            roles.append(Role.parse(item))
        except ValueError:
            continue
    return max(roles, key=lambda role: role.rank) if roles else None


def subject_of(issuer: str, sub: str) -> str:
    """The account's single sign-on subject: the provider and its ``sub`` (a ``sub`` is
    unique only within its issuer)."""
    return f"{issuer}|{sub}"


def check_id_token(
    id_token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str, access_token: str | None,
    algorithms: tuple[str, ...], now: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The ID token's claims once its signature (one of ``keys``), ``iss``, ``aud``,
    ``exp``/``iat``, ``nonce``, ``azp`` and ``at_hash`` are right; JoseError otherwise.

    Times are checked against the wall clock (``now``), not the service's clock: the
    provider stamps them with its own wall clock, and a sandbox's calendar may be moved."""
    if len(id_token) > MAX_ID_TOKEN:
        raise JoseError("the ID token is too large")
    decoded = jwt.decode(id_token, keys, algorithms=list(algorithms))
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True},
    }
    params: dict[str, Any] = {"nonce": nonce, "client_id": client_id}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(decoded.claims, decoded.header, options, params)
    claims.validate(now=int(now if now is not None else time.time()), leeway=LEEWAY)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise JoseError("the ID token has no subject")
    return dict(claims)


def callback_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + f"{PREFIX}/sso/callback"


def _configured(settings: Settings) -> tuple[str, str]:
    if not settings.console_oidc_issuer or not settings.console_oidc_client_id:
        raise SsoFailure("Single sign-on is not set up for this console.", "not configured", status_code=404)
    return settings.console_oidc_issuer, settings.console_oidc_client_id


def _requested_claims(settings: Settings) -> str:
    """The ``claims`` request parameter (OpenID Connect Core §5.5): the role claim in the
    ID token and from userinfo (a provider that has no role scope still releases it)."""
    wanted = {settings.console_oidc_role_claim: {"essential": True}, settings.console_oidc_name_claim: None}
    return json.dumps({"id_token": wanted, "userinfo": wanted}, separators=(",", ":"))


def scopes(settings: Settings) -> str:
    """The scopes asked for: ``console_oidc_scopes``, ``openid`` first and always."""
    asked = [scope for scope in settings.console_oidc_scopes.split() if scope != "openid"]
    return " ".join(["openid", *dict.fromkeys(asked)])


def _client(settings: Settings, metadata: ProviderMetadata) -> AsyncOAuth2Client:
    secret = settings.console_oidc_client_secret
    if not secret:
        method = "none"  # a public client: PKCE alone binds the code to this browser's sign-in
    elif "client_secret_basic" in metadata.token_endpoint_auth_methods:
        method = "client_secret_basic"
    else:
        method = "client_secret_post"
    return AsyncOAuth2Client(
        client_id=settings.console_oidc_client_id, client_secret=secret, token_endpoint_auth_method=method,
        scope=scopes(settings), redirect_uri=callback_url(settings), code_challenge_method="S256", timeout=TIMEOUT,
    )  # fmt: skip


# The routes ---------------------------------------------------------------------------


def _set_pending(response: Response, request: Request, pending: Pending) -> None:
    # SameSite=Lax, not Strict as the console's other cookies: the provider sends the
    # browser back here from its own site, and a Strict cookie would not come with that
    # navigation (the callback would find no sign-in under way). Lax cookies come with
    # top-level GET navigations only; the cookie holds no power by itself (it is good for
    # one sign-in that the provider must still complete) and lives ten minutes.
    response.set_cookie(
        PENDING_COOKIE, pending.encode(), max_age=PENDING_SECONDS, path=PENDING_PATH, httponly=True,
        secure=secure(request), samesite="lax",
    )  # fmt: skip


def _clear_pending(response: Response, request: Request) -> None:
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH, httponly=True, secure=secure(request), samesite="lax")


async def _audit_refusal(request: Request, failure: SsoFailure) -> None:
    from hws.store import audit

    svc = service(request)
    event = audit.AuditEvent(
        at=svc.clock.now(), actor="sso", action="console.sign-in", target=(failure.subject or "sso")[:100],
        outcome="refused", source=source_of(request), detail={"via": "sso", "reason": failure.reason[:300]},
    )  # fmt: skip

    def write() -> None:
        with svc.engine.begin() as conn:
            audit.record(conn, event)

    await run_in_threadpool(write)


def _refused_page(request: Request, failure: SsoFailure) -> Response:
    response = render(request, "sso/refused.html", status_code=failure.status_code, message=failure.message)
    _clear_pending(response, request)
    return response


@router.get("/sso/start")
async def start(request: Request, next: str = "") -> Response:
    """Off to the provider: a new state, nonce and PKCE verifier, kept in the browser
    (:data:`PENDING_COOKIE`) for the callback."""
    settings = service(request).settings
    try:
        issuer, _ = _configured(settings)
        metadata = await discover(issuer)
    except SsoFailure as failure:
        return _refused_page(request, failure)
    pending = Pending.new(next)
    extra: dict[str, str] = {"nonce": pending.nonce}
    if metadata.claims_parameter_supported:
        extra["claims"] = _requested_claims(settings)
    async with _client(settings, metadata) as client:
        url, _ = client.create_authorization_url(
            metadata.authorization_endpoint, state=pending.state, code_verifier=pending.verifier, **extra
        )
    response = RedirectResponse(url, status_code=303)
    _set_pending(response, request, pending)
    return response


@router.get("/sso/callback")
async def callback(request: Request) -> Response:
    """Back from the provider: the state checked, the code exchanged (with the PKCE
    verifier), the ID token checked, the role read, the operator signed in."""
    try:
        created, id_token, next_path = await _complete(request)
    except SsoFailure as failure:
        if not failure.audited:
            await _audit_refusal(request, failure)
        return _refused_page(request, failure)
    # A page that moves on by itself rather than a redirect: the browser arrived here from
    # the provider's site, and the session cookie (SameSite=Strict) would not be sent with
    # a redirect in that same cross-site chain; a navigation started by this page is same-site.
    response = render(request, "sso/signed_in.html", next=next_path)
    _clear_pending(response, request)
    set_cookie(response, request, SESSION_COOKIE, created.token)
    if len(id_token) <= 3500:  # a cookie holds about 4 kB; without it, sign-out names the client instead
        set_cookie(response, request, ID_TOKEN_COOKIE, id_token, max_age=service(request).settings.console_absolute_timeout)
    return response


async def _complete(request: Request) -> tuple[NewSession, str, str]:
    settings = service(request).settings
    issuer, client_id = _configured(settings)
    params = request.query_params
    pending = Pending.decode(request.cookies.get(PENDING_COOKIE))
    if params.get("error"):
        error = params["error"][:100]
        described = (params.get("error_description") or "")[:300].strip().rstrip(".")
        message = {
            "access_denied": "The single sign-on provider did not sign you in (access denied)",
            "login_required": "The single sign-on provider needs you to sign in there first",
            "consent_required": "The single sign-on provider needs your consent first",
        }.get(error, f"The single sign-on provider refused the sign-in ({error})")
        raise SsoFailure(f"{message}{': ' + described if described else ''}.", f"provider error {error}: {described}")
    if pending is None or not pending.current(time.time()):
        raise SsoFailure(
            "This sign-in had expired or was not started from this console; start again.", "no sign-in under way",
            status_code=400,
        )  # fmt: skip
    state = params.get("state", "")
    if not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise SsoFailure("This sign-in did not match the one started here; start again.", "state mismatch", status_code=400)
    code = params.get("code", "")
    if not code or len(code) > 2048:
        raise SsoFailure("The single sign-on provider sent no sign-in code; start again.", "no code", status_code=400)
    metadata = await discover(issuer)
    # RFC 9207: a provider that names itself in the response must name the one asked
    if params.get("iss") is not None and params["iss"] != metadata.issuer:
        raise SsoFailure("The answer came from another provider; start again.", "iss mismatch", status_code=400)
    async with _client(settings, metadata) as client:
        try:
            token = await client.fetch_token(
                metadata.token_endpoint, grant_type="authorization_code", code=code, code_verifier=pending.verifier
            )
        except OAuthError as exc:
            raise SsoFailure(
                f"The single sign-on provider did not accept the sign-in code ({exc.error}); start again.",
                f"token endpoint: {exc.error}: {str(exc.description or '')[:200]}",
            ) from exc  # fmt: skip
        except httpx.HTTPError as exc:
            raise SsoFailure(
                "The single sign-on provider could not be reached; try again later.", f"token endpoint: {exc}", status_code=502
            ) from exc  # fmt: skip
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoFailure("The single sign-on provider sent no ID token.", "no id_token in the token response")
        claims = await _id_token_claims(metadata, id_token, client_id=client_id, nonce=pending.nonce,
                                        access_token=token.get("access_token"))  # fmt: skip
        subject = subject_of(metadata.issuer, claims["sub"])
        wanted = (settings.console_oidc_role_claim, settings.console_oidc_name_claim)
        if any(claim not in claims for claim in wanted) and metadata.userinfo_endpoint and token.get("access_token"):
            for claim, value in (await _userinfo(client, metadata.userinfo_endpoint, claims["sub"], subject)).items():
                claims.setdefault(claim, value)
    created = await run_in_threadpool(
        operator_from_claims, accounts(request), settings, claims, subject=subject, source=source_of(request)
    )
    return created, id_token, safe_next(pending.next)  # the cookie came back from the browser: checked again


def operator_from_claims(
    operators: OperatorAccounts, settings: Settings, claims: dict[str, Any], *, subject: str, source: str | None
) -> NewSession:
    """Sign in the person the provider vouched for (``claims``, checked): their role from
    ``console_oidc_role_claim``, their name from ``console_oidc_name_claim``; SsoFailure
    when the claims name no role or no usable name, or the account may not sign in."""
    role = role_from(claims.get(settings.console_oidc_role_claim))
    if role is None:
        shown = str(claims.get(settings.console_oidc_role_claim, ""))[:60]
        raise SsoFailure(
            "Your account at the single sign-on provider has no console role (viewer, examiner or administrator); "
            "ask an administrator to give you one.",
            f"no known role in claim {settings.console_oidc_role_claim!r}: {shown!r}", subject=subject,
        )  # fmt: skip
    name = claims.get(settings.console_oidc_name_claim)
    if not isinstance(name, str) or not name.strip():
        raise SsoFailure(
            "The single sign-on provider did not say your name; ask an administrator.",
            f"no name in claim {settings.console_oidc_name_claim!r}", subject=subject,
        )  # fmt: skip
    try:
        return operators.sso_sign_in(subject=subject, name=name, role=role, source=source)
    except SignInRefused as exc:
        raise SsoFailure(exc.message[:1].upper() + exc.message[1:] + ".", exc.reason, subject=subject, audited=True) from exc
    except AccountError as exc:
        raise SsoFailure(f"Your name at the single sign-on provider cannot name an operator: {exc}.", "bad name",
                         subject=subject) from exc  # fmt: skip


async def _id_token_claims(
    metadata: ProviderMetadata, id_token: str, *, client_id: str, nonce: str, access_token: str | None
) -> dict[str, Any]:
    keys = await provider_keys(metadata)
    for attempt in (1, 2):
        try:
            return check_id_token(
                id_token, keys, issuer=metadata.issuer, client_id=client_id, nonce=nonce, access_token=access_token,
                algorithms=metadata.id_token_algorithms,
            )  # fmt: skip
        except InvalidKeyIdError:
            if attempt == 2:
                break
            keys = await provider_keys(metadata, refresh=True)  # the provider may have rotated its keys
        except (JoseError, ValueError) as exc:
            raise SsoFailure(
                "The single sign-on provider's answer could not be verified; start again.",
                f"id token refused: {type(exc).__name__}: {str(exc)[:200]}",
            ) from exc  # fmt: skip
    raise SsoFailure("The single sign-on provider's answer could not be verified.", "id token signed by an unknown key")


async def _userinfo(client: AsyncOAuth2Client, endpoint: str, sub: str, subject: str) -> dict[str, Any]:
    try:
        response = await client.get(endpoint, headers={"Accept": "application/json"})
        response.raise_for_status()
        info = response.json()
    except (httpx.HTTPError, ValueError, OAuthError) as exc:
        raise SsoFailure(
            "The single sign-on provider did not answer who you are; start again.", f"userinfo: {str(exc)[:200]}",
            subject=subject, status_code=502,
        ) from exc  # fmt: skip
    # OpenID Connect Core §5.3.2: the userinfo's sub must be the ID token's
    if not isinstance(info, dict) or info.get("sub") != sub:
        raise SsoFailure("The single sign-on provider's answers did not agree; start again.", "userinfo sub mismatch",
                         subject=subject)  # fmt: skip
    return info


@router.post("/sso/sign-out")
async def sign_out(request: Request, operator: SignedIn = Depends(acting(Role.VIEWER))) -> Response:
    """End this console session; then offer signing out at the provider too
    (OpenID Connect RP-Initiated Logout: ``id_token_hint``, ``post_logout_redirect_uri``)."""
    settings = service(request).settings
    await run_in_threadpool(accounts(request).sign_out, request.cookies.get(SESSION_COOKIE, ""), source=source_of(request))
    logout_url: str | None = None
    if settings.console_oidc_issuer and settings.console_oidc_client_id:
        try:
            metadata = await discover(settings.console_oidc_issuer)
        except SsoFailure:
            metadata = None
        if metadata is not None and metadata.end_session_endpoint:
            logout_url = end_session_url(
                metadata.end_session_endpoint, client_id=settings.console_oidc_client_id,
                id_token=request.cookies.get(ID_TOKEN_COOKIE), settings=settings,
            )  # fmt: skip
    if logout_url is None:
        response: Response = redirect(request, "/sign-in", notice="You are signed out.")
    else:
        request.state.operator = None  # the page is shown signed out
        response = render(request, "sso/signed_out.html", logout_url=logout_url, provider=urlsplit(logout_url).netloc)
    clear_cookie(response, request, SESSION_COOKIE)
    clear_cookie(response, request, ID_TOKEN_COOKIE)
    return response


def end_session_url(endpoint: str, *, client_id: str, id_token: str | None, settings: Settings) -> str:
    params = {"client_id": client_id, "post_logout_redirect_uri": settings.public_url.rstrip("/") + f"{PREFIX}/sign-in"}
    if id_token and len(id_token) <= MAX_ID_TOKEN:
        params["id_token_hint"] = id_token
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)
