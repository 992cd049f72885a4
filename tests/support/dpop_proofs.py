"""DPoP proofs (RFC 9449) and private_key_jwt client assertions made with joserfc, for the
ports of the OpenID conformance suite's FAPI 2.0 modules (tests/e2e/test_fapi2_conformance.py).

An implementation independent of the office kit (``hws.client`` is not used): the proofs are
built the way the suite's client builds them (header ``typ``/``alg``/``jwk``; claims ``jti``
of 20 alphanumerics, ``iat``, ``htm``, ``htu``, ``ath`` at a resource, ``nonce`` once the
server gave one), and a test changes the header or the claims before signing, or the signed
proof after, as the suite's negative conditions do.

:class:`DpopClient` is one client as the suite drives it: its DPoP key, the last nonce the
authorization server and the resource server gave it, and the suite's retry on
``use_dpop_nonce`` (two attempts in all, a fresh proof and a fresh client assertion for the
second).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from hws.client.enrolment import generate
from tests.support.servers import RunningServer

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: The suite puts header parameters no registry knows (``tx_id``) into proofs and signs with
#: RS256 on purpose; joserfc's default registry refuses both, this one signs what it is given.
LENIENT = jws.JWSRegistry(algorithms=["ES256", "PS256", "RS256"], strict_check_header=False)

#: Order of the P-256 group: an ES256 signature ``r‖s`` with ``s > n/2`` is "high-S".
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

#: RFC 6749 Appendix A NQCHAR: what a DPoP nonce (RFC 9449 §8.1, ``1*NQCHAR``) may contain.
NQCHARS = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")

ALNUM = string.ascii_letters + string.digits

Key = ECKey | RSAKey
Mutation = Callable[[dict[str, Any], dict[str, Any]], None]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def random_alnum(length: int = 20) -> str:
    """Like the suite's ``RandomStringUtils.secure().nextAlphanumeric``."""
    return "".join(secrets.choice(ALNUM) for _ in range(length))


def ath(access_token: str) -> str:
    """RFC 9449 §4.2: base64url(SHA-256(ASCII(access token)))."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, computed here (not by joserfc) from the required members."""
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[public_jwk["kty"]]
    canonical = json.dumps({name: public_jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def is_high_s(compact: str) -> bool:
    signature = base64.urlsafe_b64decode(compact.rsplit(".", 1)[1] + "==")
    return int.from_bytes(signature[32:], "big") > P256_N // 2


def with_s_flipped(compact: str) -> str:
    """The same ES256 JWS with ``s`` replaced by ``n − s``: also a valid signature."""
    head, payload, sig = compact.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{payload}.{b64url(raw[:32] + (P256_N - s).to_bytes(32, 'big'))}"


def sign(header: dict[str, Any], claims: dict[str, Any] | bytes, key: Key, *, low_s: bool = True) -> str:
    """A compact JWS signed by joserfc with ``header["alg"]``. ES256 signatures come out
    low-S when ``low_s`` (signed again until they are: the server refuses a high-S client
    assertion, checklist auth rule 16, and a test should not pass or fail by chance)."""
    payload = claims if isinstance(claims, bytes) else json.dumps(claims, separators=(",", ":")).encode()
    for _ in range(64):
        compact = jws.serialize_compact(header, payload, key, registry=LENIENT)
        if header["alg"] != "ES256" or not low_s or not is_high_s(compact):
            return compact
    raise AssertionError("64 high-S ES256 signatures in a row")


# --------------------------------------------------------------------------- keys


@dataclass
class DpopKey:
    """A DPoP key pair (the suite's GenerateDpopKey): ES256 (P-256) or PS256 (RSA 2048)."""

    alg: str = "ES256"
    key: Key = field(init=False)

    def __post_init__(self) -> None:
        if self.alg == "ES256":
            self.key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
        elif self.alg in ("PS256", "RS256"):
            self.key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        else:
            raise ValueError(self.alg)

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def private_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=True))

    @property
    def jkt(self) -> str:
        return thumbprint(self.public_jwk)


@dataclass
class Client:
    """An enrolled client: its ID and the private key of its certificate."""

    client_id: str
    key: Key
    alg: str


def enrol(server: RunningServer, office: str, *, alg: str = "ES256", binding: str | None = "dpop-required") -> Client:
    """Enrol a new client of ``office`` (keys made beside the data folder, allowed from
    127.0.0.1) with ``--token-binding binding`` (none: the server's default)."""
    files = generate(office, server.data_dir.parent / f"keys-{office}-{secrets.token_hex(4)}", alg=alg)
    extra = ["--token-binding", binding] if binding else []
    done = server.hws(
        "admin", "clients", "add", "--cert", str(files.certificate), "--office", office,
        "--ip", "127.0.0.1/32", *extra, "--json", check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"hws admin clients add {' '.join(extra)} failed:\n{done.stdout}\n{done.stderr}"
    private = serialization.load_pem_private_key(Path(files.private_key).read_bytes(), None)
    key: Key = ECKey.import_key(private) if alg == "ES256" else RSAKey.import_key(private)  # type: ignore[arg-type]
    return Client(json.loads(done.stdout)["client_id"], key, alg)


# --------------------------------------------------------------------------- client assertions


def assertion_claims(client_id: str, audience: str, *, lifetime: int = 60) -> dict[str, Any]:
    """The suite's CreateClientAuthenticationAssertionClaims(WithIssAudience): ``iss`` = ``sub``
    = client_id, ``aud``, ``jti`` of 20 alphanumerics, ``nbf`` = ``iat`` = now, ``exp`` = now + 60."""
    now = int(time.time())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": random_alnum(),
        "nbf": now,
        "iat": now,
        "exp": now + lifetime,
    }


def client_assertion(client: Client, audience: str, *, alg: str | None = None, change: Mutation | None = None) -> str:
    """The suite's SignClientAuthenticationAssertion: header ``alg`` and ``kid`` (the server
    names a client's key by its RFC 7638 thumbprint), no ``typ``."""
    header: dict[str, Any] = {"alg": alg or client.alg, "kid": thumbprint(dict(client.key.as_dict(private=False)))}
    claims = assertion_claims(client.client_id, audience)
    if change is not None:
        change(header, claims)
    return sign(header, claims, client.key)


def client_credentials_form(assertion: str | None, *, scope: str | None = None, client_id: str | None = None) -> dict[str, str]:
    """The suite's CreateTokenEndpointRequestForClientCredentialsGrant, plus its client
    authentication (AddClientIdToRequest, AddClientAssertionToRequest)."""
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    if client_id is not None:
        data["client_id"] = client_id
    if assertion is not None:
        data["client_assertion"] = assertion
        data["client_assertion_type"] = JWT_BEARER
    return data


# --------------------------------------------------------------------------- DPoP proofs


def proof_header(key: DpopKey) -> dict[str, Any]:
    """The suite's CreateDpopHeader: ``alg`` of the key, ``typ`` dpop+jwt, the public ``jwk``."""
    return {"alg": key.alg, "typ": "dpop+jwt", "jwk": key.public_jwk}


def proof_claims(htm: str, htu: str, *, nonce: str | None = None, access_token: str | None = None) -> dict[str, Any]:
    """CreateDpopClaims then SetDpopHtmHtuFor…Endpoint, SetDpopAccessTokenHash and SetDpopProofNonceFor…"""
    claims: dict[str, Any] = {"jti": random_alnum(), "iat": int(time.time()), "htm": htm, "htu": htu}
    if access_token is not None:
        claims["ath"] = ath(access_token)
    if nonce is not None:
        assert NQCHARS.fullmatch(nonce), f"DPoP nonce with characters outside NQCHAR: {nonce!r}"  # DPOP-8.1
        claims["nonce"] = nonce
    return claims


def make_proof(
    key: DpopKey,
    htm: str,
    htu: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
    change: Mutation | None = None,
    sign_with: DpopKey | None = None,
    after: Callable[[str], str] | None = None,
) -> str:
    header, claims = proof_header(key), proof_claims(htm, htu, nonce=nonce, access_token=access_token)
    if change is not None:
        change(header, claims)
    proof = sign(header, claims, (sign_with or key).key)
    return after(proof) if after is not None else proof


def unsigned_proof(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """``alg: none`` (the suite's SignDpopProofWithNone): header.payload. with no signature."""
    return f"{b64url_json(header)}.{b64url_json(claims)}."


# --------------------------------------------------------------------------- responses


def dpop_nonce_of(response: httpx.Response) -> str | None:
    """The response's ``DPoP-Nonce``, checked as the suite checks it (at most one header,
    ``1*NQCHAR``); None when there is none."""
    values = response.headers.get_list("dpop-nonce")
    assert len(values) <= 1, f"{len(values)} DPoP-Nonce headers (RFC 9449 §8: not more than one)"
    if not values:
        return None
    assert NQCHARS.fullmatch(values[0]), f"DPoP-Nonce outside 1*NQCHAR (RFC 9449 §8.1): {values[0]!r}"
    return values[0]


def dpop_challenge(response: httpx.Response) -> dict[str, str] | None:
    """The parameters of the response's ``WWW-Authenticate: DPoP …`` challenge (scheme
    case-insensitive), or None when there is no DPoP challenge."""
    for value in response.headers.get_list("www-authenticate"):
        for challenge in re.split(r",\s*(?=[A-Za-z][\w.-]*\s+[\w.-]+=)", value):
            scheme, _, params = challenge.strip().partition(" ")
            if scheme.lower() == "dpop":
                return dict(re.findall(r'([\w.-]+)\s*=\s*"([^"]*)"', params))
    return None


def token_error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def shannon_bits(value: str) -> float:
    """The suite's entropy estimate: Shannon entropy per character × length."""
    counts = {c: value.count(c) for c in set(value)}
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values()) * len(value)


# --------------------------------------------------------------------------- one client


@dataclass
class DpopClient:
    """One client as the suite drives it (AbstractFAPI2SPFinalServerTestModule): a DPoP key
    made on first use, the nonces last supplied by the authorization server and by the
    resource server, and up to two attempts per call when the answer is ``use_dpop_nonce``."""

    http: httpx.Client
    client: Client
    issuer: str
    token_endpoint: str
    dpop: DpopKey = field(default_factory=DpopKey)
    as_nonce: str | None = None
    rs_nonce: str | None = None
    #: every response, in order (for messages)
    seen: list[httpx.Response] = field(default_factory=list)

    def assertion(self, **kwargs: Any) -> str:
        """A client assertion with ``aud`` = issuer, as the suite's FAPI 2.0 modules send it."""
        return client_assertion(self.client, self.issuer, **kwargs)

    def token(
        self,
        form: Callable[[], dict[str, str]] | None = None,
        *,
        with_proof: bool = True,
        change: Mutation | None = None,
        after: Callable[[str], str] | None = None,
        attempts: int = 2,
    ) -> httpx.Response:
        """POST the token endpoint (callSenderConstrainedTokenEndpoint): a fresh form
        (default: client_credentials with a fresh assertion) and a fresh proof per attempt;
        a second attempt only after HTTP 400 ``use_dpop_nonce``, which must carry a nonce."""
        make_form = form or (lambda: client_credentials_form(self.assertion()))
        response: httpx.Response | None = None
        for _ in range(attempts):
            headers = {}
            if with_proof:
                headers["DPoP"] = make_proof(
                    self.dpop, "POST", self.token_endpoint, nonce=self.as_nonce, change=change, after=after
                )
            response = self.http.post(self.token_endpoint, data=make_form(), headers=headers)
            self.seen.append(response)
            nonce = dpop_nonce_of(response)
            if response.status_code == 400 and token_error(response) == "use_dpop_nonce":
                assert nonce, f"use_dpop_nonce without a DPoP-Nonce header: {response.headers}"
                self.as_nonce = nonce
                continue
            if response.is_success and nonce:
                self.as_nonce = nonce  # RFC 9449 §8.2: a nonce may come with any answer
            return response
        assert response is not None
        return response

    def access_token(self, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        """A DPoP-bound access token (the happy path), and the token response."""
        response = self.token(**kwargs)
        assert response.status_code == 200, f"token endpoint: {response.status_code} {response.text}"
        body = response.json()
        return body["access_token"], body

    def resource(
        self,
        url: str,
        access_token: str,
        *,
        method: str = "GET",
        scheme: str = "DPoP",
        headers: dict[str, str] | None = None,
        change: Mutation | None = None,
        after: Callable[[str], str] | None = None,
        sign_with: DpopKey | None = None,
        proof_headers: Callable[[str, DpopKey], Iterable[tuple[str, str]]] | None = None,
        params: dict[str, str] | None = None,
        send_authorization: bool = True,
        fresh_nonce: bool = False,
        on_retry: Callable[[], None] | None = None,
        attempts: int = 2,
    ) -> httpx.Response:
        """Call a protected resource (requestProtectedResourceUsingDpop): ``Authorization:
        <scheme> <token>`` and ``DPoP: <proof>`` (``htm`` the method, ``htu`` the URL, ``ath``,
        the nonce); a second attempt only after 401 with a DPoP challenge ``use_dpop_nonce``.
        ``proof_headers`` replaces the ``DPoP`` header with other header lines (none, two, …)."""
        if fresh_nonce:
            self.rs_nonce = None
        response: httpx.Response | None = None
        for _ in range(attempts):
            proof = make_proof(
                self.dpop, method, url, nonce=self.rs_nonce, access_token=access_token,
                change=change, after=after, sign_with=sign_with,
            )  # fmt: skip
            lines: list[tuple[str, str]] = list((headers or {}).items())
            if send_authorization:
                lines.append(("Authorization", f"{scheme} {access_token}"))
            lines.extend(proof_headers(proof, self.dpop) if proof_headers else [("DPoP", proof)])
            if not any(name.lower() == "accept" for name, _ in lines):
                lines.append(("Accept", "application/json"))  # the suite's default Accept
            response = self.http.request(method, url, headers=lines, params=params)
            self.seen.append(response)
            nonce = dpop_nonce_of(response)
            challenge = dpop_challenge(response)
            if response.status_code == 401 and challenge and challenge.get("error") == "use_dpop_nonce":
                assert nonce, f"use_dpop_nonce without a DPoP-Nonce header: {response.headers}"
                self.rs_nonce = nonce
                if on_retry is not None:
                    on_retry()
                continue
            if response.is_success and nonce:
                self.rs_nonce = nonce
            return response
        assert response is not None
        return response


class TlsTerminator(httpx.BaseTransport):
    """What a TLS-terminating proxy in front of hws does, for a test: requests made to the
    public ``https`` URLs (the ones discovery publishes and proofs name in ``htu``) reach the
    local plain-HTTP server, their ``Host`` header unchanged, with ``X-Forwarded-Proto: https``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        request.headers["X-Forwarded-Proto"] = "https"
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWS compact token, unverified (the test reads ``cnf``)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def jwt_header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return header
